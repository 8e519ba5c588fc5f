from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FunnelConfig(AppConfig):
    name = "funnel"
    verbose_name = _("Post-sale funnel")

    def ready(self) -> None:
        from posvenda import events

        from . import handlers

        events.subscribe(events.CUSTOMER_CREATED, handlers.on_customer_created)
        events.subscribe(events.ORDER_RECORDED, handlers.on_order_recorded)
        events.subscribe(events.CONTRACT_CHANGED, handlers.on_contract_changed)
        events.subscribe(events.PLAN_UPGRADED, handlers.on_plan_upgraded)
        events.subscribe(events.CUSTOMERS_IMPORTED, handlers.on_customers_imported)
