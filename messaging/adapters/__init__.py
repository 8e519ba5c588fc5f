"""Channel backends behind one interface. E-mail is always on; WhatsApp and Instagram only when configured."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import ChannelAdapter, DeliveryError

DEFAULT_ADAPTERS = {
    "email": "messaging.adapters.email.EmailAdapter",
    "whatsapp": "messaging.adapters.whatsapp.WhatsAppCloudAdapter",
    "instagram": "messaging.adapters.instagram.InstagramAdapter",
}

__all__ = ["ChannelAdapter", "DeliveryError", "get_adapter"]


def get_adapter(channel: str) -> ChannelAdapter | None:
    """The configured adapter for ``channel``, or None when the channel cannot send (not configured)."""
    paths = {**DEFAULT_ADAPTERS, **getattr(settings, "MESSAGING_ADAPTERS", {})}
    path = paths.get(channel)
    if not path:
        return None
    adapter = import_string(path)()
    return adapter if adapter.is_configured() else None
