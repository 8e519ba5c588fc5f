"""E-mail through Django's mail API, so SMTP, the console and every django-anymail ESP work."""

from __future__ import annotations

from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from messaging import links
from messaging.conf import setting

from .base import ChannelAdapter

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message


class EmailAdapter(ChannelAdapter):
    channel = "email"

    def address_for(self, customer: Customer) -> str:
        return (customer.email or "").strip().lower()

    def build(self, message: Message) -> EmailMultiAlternatives:
        unsubscribe = links.unsubscribe_url(message.customer_id)
        context = {
            "message": message,
            "body": message.body,
            "unsubscribe_url": unsubscribe,
            "preferences_url": links.preferences_url(message.customer_id),
        }
        with translation.override(message.language or settings.LANGUAGE_CODE):
            text = render_to_string("messaging/email/message.txt", context)
            html = render_to_string("messaging/email/message.html", context)
        from_email = setting("MESSAGING_FROM_EMAIL", "") or settings.DEFAULT_FROM_EMAIL
        domain = parseaddr(from_email)[1].rpartition("@")[2] or "posvenda.local"
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=text,
            from_email=from_email,
            to=[message.to_address],
            headers={
                "Message-ID": make_msgid(idstring=f"posvenda.{message.pk}", domain=domain),
                # RFC 2369 + RFC 8058: an https URL answering a one-click POST, and a mailto.
                "List-Unsubscribe": f"<{unsubscribe}>, <{links.unsubscribe_mailto()}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        email.attach_alternative(html, "text/html")
        # Read by anymail backends only (ignored by SMTP/console): lets webhooks carry our id too.
        email.metadata = {"posvenda_message_id": str(message.pk)}
        email.tags = [f"purpose:{message.purpose}"]
        return email

    def send(self, message: Message) -> str:
        email = self.build(message)
        email.send(fail_silently=False)
        status = getattr(email, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        if isinstance(provider_id, str) and provider_id:
            return provider_id
        # SMTP and console have no provider id: the Message-ID header is what bounces refer to.
        return email.extra_headers["Message-ID"]
