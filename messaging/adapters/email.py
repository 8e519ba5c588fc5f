"""E-mail through Django's mail API, so SMTP, the console and every django-anymail ESP work."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import translation

from messaging import links
from messaging.conf import setting

from .base import ChannelAdapter

if TYPE_CHECKING:
    from customers.models import Customer
    from messaging.models import Message

log = logging.getLogger(__name__)


class EmailAdapter(ChannelAdapter):
    channel = "email"

    def address_for(self, customer: Customer) -> str:
        return (customer.email or "").strip().lower()

    def build(self, message: Message) -> EmailMultiAlternatives:
        unsubscribe = links.unsubscribe_url(message.customer_id)
        context = {
            "message": message,
            "body": message.body,
            "scale": (message.extra or {}).get("scale"),
            "button": (message.extra or {}).get("button"),
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
        if (message.extra or {}).get("reply_to"):
            email.reply_to = [message.extra["reply_to"]]
        email.attach_alternative(html, "text/html")
        # Read by anymail backends only (ignored by SMTP/console): lets webhooks carry our id too.
        email.metadata = {"posvenda_message_id": str(message.pk)}
        email.tags = [f"purpose:{message.purpose}"]
        return email

    @staticmethod
    def _provider_id(email: EmailMultiAlternatives) -> str:
        status = getattr(email, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        if isinstance(provider_id, str) and provider_id:
            return provider_id
        # SMTP and console have no provider id: the Message-ID header is what bounces refer to.
        return email.extra_headers["Message-ID"]

    def send(self, message: Message) -> str:
        email = self.build(message)
        email.send(fail_silently=False)
        return self._provider_id(email)

    def send_many(self, messages: Iterable[Message]) -> Iterator[tuple[Message, str | Exception]]:
        """Send over one connection (one SMTP session, or one ESP HTTP session) opened once.

        A failed message is yielded with its exception; the connection is then reopened, because
        after an SMTP error the session may be in an unknown state.
        """
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as exc:  # no session at all: every message of the batch failed to go out
            for message in messages:
                yield message, exc
            return
        try:
            for message in messages:
                try:
                    email = self.build(message)
                    email.connection = connection
                    email.send(fail_silently=False)
                    yield message, self._provider_id(email)
                except Exception as exc:  # recorded on that message only
                    yield message, exc
                    self._reopen(connection)
        finally:
            self._close(connection)

    @staticmethod
    def _close(connection: object) -> None:
        try:
            connection.close()  # type: ignore[attr-defined]
        except Exception:  # the server may already have dropped the session
            log.debug("Closing the e-mail connection failed", exc_info=True)

    def _reopen(self, connection: object) -> None:
        self._close(connection)
        try:
            connection.open()  # type: ignore[attr-defined]
        except Exception:  # the next send opens it again (or fails and is recorded)
            log.debug("Reopening the e-mail connection failed", exc_info=True)
