"""Instagram DM through Meta's Graph API (Instagram messaging). Off unless MESSAGING_INSTAGRAM_TOKEN and
MESSAGING_INSTAGRAM_ACCOUNT_ID are set; see docs/messaging.md for the setup and the 24-hour window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .meta import MetaGraphAdapter

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class InstagramAdapter(MetaGraphAdapter):
    channel = "instagram"
    label = "Instagram API"
    prefix = "MESSAGING_INSTAGRAM"
    sender_setting = "ACCOUNT_ID"

    def address_for(self, customer: Customer) -> str:
        # The IGSID Meta assigned when the customer messaged the account; "" blocks the message (no address).
        return (customer.instagram_id or "").strip()

    def payload(self, message: Message) -> dict[str, Any]:
        return {"recipient": {"id": message.to_address}, "message": {"text": message.body}}

    def provider_id(self, answer: Any) -> str:
        return answer["message_id"]
