from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messaging")

    def ready(self) -> None:
        from anymail.signals import tracking

        from . import receivers

        tracking.connect(receivers.on_tracking, dispatch_uid="posvenda.messaging.tracking")
