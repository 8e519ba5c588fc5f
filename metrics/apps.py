from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self) -> None:
        from posvenda import events

        from . import handlers, health_handlers

        # Events that move a measure of the health score (docs/metrics.md, "Health score"): the
        # customer is recomputed in a worker. Ticket SLA breaches and e-mail opens have no event;
        # the nightly run picks them up.
        for name in (
            events.SURVEY_ANSWERED,
            events.TICKET_CREATED,
            events.TICKET_RESOLVED,
            events.ORDER_RECORDED,
            events.ORDER_CANCELLED,
            events.ORDER_REFUNDED,
            events.CONTRACT_CHANGED,
        ):
            events.subscribe(name, health_handlers.on_customer_event)
        events.subscribe(events.CUSTOMERS_IMPORTED, health_handlers.on_customers_imported)
        events.subscribe(events.ORDERS_IMPORTED, health_handlers.on_orders_imported)
        # Imported order history lands in days already rolled up: forget those days' roll-ups.
        events.subscribe(events.ORDERS_IMPORTED, handlers.on_orders_imported)
