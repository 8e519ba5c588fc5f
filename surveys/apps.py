from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")

    def ready(self) -> None:
        from posvenda import events

        from . import handlers

        events.subscribe(events.ORDER_RECORDED, handlers.on_order_recorded)
        events.subscribe(events.STAGE_CHANGED, handlers.on_stage_changed)
        events.subscribe(events.ORDER_REFUNDED, handlers.on_order_refunded)
        events.subscribe(events.TICKET_RESOLVED, handlers.on_ticket_resolved)
