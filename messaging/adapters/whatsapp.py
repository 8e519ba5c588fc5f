"""WhatsApp Cloud API (Meta). Off unless MESSAGING_WHATSAPP_TOKEN and MESSAGING_WHATSAPP_PHONE_NUMBER_ID
are set; see docs/messaging.md for the setup and the 24-hour customer-service window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from messaging.conf import setting

from .base import ChannelAdapter, DeliveryError

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class WhatsAppCloudAdapter(ChannelAdapter):
    channel = "whatsapp"

    def __init__(self) -> None:
        self.token = setting("MESSAGING_WHATSAPP_TOKEN", "")
        self.phone_number_id = setting("MESSAGING_WHATSAPP_PHONE_NUMBER_ID", "")
        self.api_url = setting("MESSAGING_WHATSAPP_API_URL", "https://graph.facebook.com").rstrip("/")
        self.api_version = setting("MESSAGING_WHATSAPP_API_VERSION", "v21.0")
        self.timeout = setting("MESSAGING_WHATSAPP_TIMEOUT", 10)

    def is_configured(self) -> bool:
        return bool(self.token and self.phone_number_id)

    def address_for(self, customer: Customer) -> str:
        # Customer.phone is E.164 ("+5511987654321"); the Cloud API wants the digits only.
        return "".join(ch for ch in (customer.phone or "") if ch.isdigit())

    def send(self, message: Message) -> str:
        url = f"{self.api_url}/{self.api_version}/{self.phone_number_id}/messages"
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to_address,
            "type": "text",
            "text": {"preview_url": True, "body": message.body},
        }
        response = requests.post(
            url, json=payload, headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise DeliveryError(f"WhatsApp Cloud API {response.status_code}: {response.text[:500]}")
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise DeliveryError(f"WhatsApp Cloud API: unexpected answer {response.text[:200]}") from exc
