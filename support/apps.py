from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = _("Support")

    def ready(self) -> None:
        from anymail.signals import inbound

        from . import receivers

        # Customers' e-mails (anymail's inbound webhooks) attach to their tickets or open new ones.
        inbound.connect(receivers.on_inbound, dispatch_uid="posvenda.support.inbound")
