"""WhatsApp Cloud API (Meta). Off unless MESSAGING_WHATSAPP_TOKEN and MESSAGING_WHATSAPP_PHONE_NUMBER_ID
are set; see docs/messaging.md for the setup and the 24-hour customer-service window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .meta import MetaGraphAdapter

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class WhatsAppCloudAdapter(MetaGraphAdapter):
    channel = "whatsapp"
    label = "WhatsApp Cloud API"
    prefix = "MESSAGING_WHATSAPP"
    sender_setting = "PHONE_NUMBER_ID"

    def address_for(self, customer: Customer) -> str:
        # Customer.phone is E.164 ("+5511987654321"); the Cloud API wants the digits only.
        return "".join(ch for ch in (customer.phone or "") if ch.isdigit())

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to_address,
            "type": "text",
            "text": {"preview_url": True, "body": message.body},
        }

    def provider_id(self, answer: Any) -> str:
        return answer["messages"][0]["id"]
