"""Instagram DM through Meta's Graph API (Instagram messaging). Off unless MESSAGING_INSTAGRAM_TOKEN and
MESSAGING_INSTAGRAM_ACCOUNT_ID are set; see docs/messaging.md for the setup and the 24-hour window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from messaging.conf import setting

from .base import ChannelAdapter, DeliveryError

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class InstagramAdapter(ChannelAdapter):
    channel = "instagram"

    def __init__(self) -> None:
        self.token = setting("MESSAGING_INSTAGRAM_TOKEN", "")
        self.account_id = setting("MESSAGING_INSTAGRAM_ACCOUNT_ID", "")
        self.api_url = setting("MESSAGING_INSTAGRAM_API_URL", "https://graph.facebook.com").rstrip("/")
        self.api_version = setting("MESSAGING_INSTAGRAM_API_VERSION", "v21.0")
        self.timeout = setting("MESSAGING_INSTAGRAM_TIMEOUT", 10)

    def is_configured(self) -> bool:
        return bool(self.token and self.account_id)

    def address_for(self, customer: Customer) -> str:
        # The IGSID Meta assigned when the customer messaged the account; "" blocks the message (no address).
        return (customer.instagram_id or "").strip()

    def send(self, message: Message) -> str:
        url = f"{self.api_url}/{self.api_version}/{self.account_id}/messages"
        payload = {"recipient": {"id": message.to_address}, "message": {"text": message.body}}
        response = requests.post(
            url, json=payload, headers={"Authorization": f"Bearer {self.token}"}, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise DeliveryError(f"Instagram API {response.status_code}: {response.text[:500]}")
        try:
            return str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"Instagram API: unexpected answer {response.text[:200]}") from exc
