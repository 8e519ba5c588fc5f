"""What the WhatsApp Cloud API and Instagram messaging adapters share: Meta's Graph API settings,
the authenticated POST to ``/{version}/{sender_id}/messages`` and its error handling."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import requests

from messaging.conf import setting

from .base import ChannelAdapter, DeliveryError


class MetaGraphAdapter(ChannelAdapter):
    """Subclasses name their settings prefix and sender setting, build the payload and read the id."""

    label = "Meta Graph API"
    prefix = ""  # e.g. "MESSAGING_WHATSAPP"
    sender_setting = ""  # e.g. "PHONE_NUMBER_ID"

    def __init__(self) -> None:
        self.token = setting(f"{self.prefix}_TOKEN", "")
        self.sender_id = setting(f"{self.prefix}_{self.sender_setting}", "")
        self.api_url = setting(f"{self.prefix}_API_URL", "https://graph.facebook.com").rstrip("/")
        self.api_version = setting(f"{self.prefix}_API_VERSION", "v21.0")
        self.timeout = setting(f"{self.prefix}_TIMEOUT", 10)

    def is_configured(self) -> bool:
        return bool(self.token and self.sender_id)

    @abstractmethod
    def payload(self, message: Any) -> dict[str, Any]:
        """The JSON body Meta expects for this channel."""

    @abstractmethod
    def provider_id(self, answer: Any) -> str:
        """The message id in Meta's JSON answer (KeyError/IndexError when it is not there)."""

    def send(self, message: Any) -> str:
        url = f"{self.api_url}/{self.api_version}/{self.sender_id}/messages"
        response = requests.post(
            url, json=self.payload(message), headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise DeliveryError(f"{self.label} {response.status_code}: {response.text[:500]}")
        try:
            return str(self.provider_id(response.json()))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise DeliveryError(f"{self.label}: unexpected answer {response.text[:200]}") from exc
