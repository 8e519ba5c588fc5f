from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from posvenda import events

        from . import handlers

        events.subscribe(events.ORDER_RECORDED, handlers.on_order_recorded)
        events.subscribe(events.ORDER_REFUNDED, handlers.on_order_reversed)
        events.subscribe(events.ORDER_CANCELLED, handlers.on_order_reversed)
        events.subscribe(events.SURVEY_ANSWERED, handlers.on_survey_answered)
        events.subscribe(events.ORDERS_IMPORTED, handlers.on_orders_imported)
