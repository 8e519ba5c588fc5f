"""anymail's inbound signal (customers' e-mails, e.g. /messaging/anymail/mailgun/inbound/) → tickets.

anymail has already verified the webhook (basic auth WEBHOOK_SECRET and the ESP's signature) before
the signal fires; a refused webhook never reaches this receiver.

- The ticket comes from the subject tag our replies carry ("[Ticket #123] …", in any of the site's
  languages, also under "Re:"/"RES:") or from a plus-address such as support+123@… in the recipients.
- The sender must be the ticket's customer: the customer's e-mail or one of its contacts'
  (case-insensitive). Anything else is logged and ignored: a stranger's e-mail never lands on a
  ticket, even when it names one.
- Quoted history is cut ("On … wrote:", "Em … escreveu:", "-----Original Message-----", "> " lines).
- The Message-ID is the idempotency key: a webhook delivered twice attaches (or opens) once.
- A known customer writing without a ticket reference opens a new ticket (channel e-mail).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from customers.models import Contact, Customer

from . import services
from .models import Ticket

log = logging.getLogger(__name__)

PLUS_ADDRESS = re.compile(r"^[^@+\s]+\+(\d{1,12})@", re.IGNORECASE)
# "On Mon, 23 Nov 2026 at 10:00, Ana <ana@…> wrote:" / "Em seg., 23 de nov. de 2026 às 10:00, Ana escreveu:"
ATTRIBUTION = re.compile(r"^(on\b.*\bwrote|em\b.*\bescreveu)\s*:\s*$", re.IGNORECASE)
ATTRIBUTION_START = re.compile(r"^(on|em)\b", re.IGNORECASE)
ATTRIBUTION_END = re.compile(r"\b(wrote|escreveu)\s*:\s*$", re.IGNORECASE)
ORIGINAL_MESSAGE = re.compile(
    r"^(-{2,}\s*(original message|mensagem original)\s*-{2,}|_{10,})$",
    re.IGNORECASE,
)


def _subject_tag_patterns() -> list[re.Pattern[str]]:
    """The reply subject's "[Ticket #%(number)s]" part in every language of the site (services._reply_email
    writes it in the customer's language), plus the English source."""
    sources = {"[Ticket #%(number)s] %(subject)s"}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            sources.add(_("[Ticket #%(number)s] %(subject)s"))
    patterns = []
    for source in sources:
        head, _sep, rest = source.partition("%(number)s")
        tail = rest.split("%(subject)s")[0].strip()
        if not head.strip():
            continue
        patterns.append(re.compile(re.escape(head.strip()) + r"\s*(\d{1,12})\s*" + re.escape(tail), re.IGNORECASE))
    return patterns


def ticket_number(message: Any) -> int | None:
    """The ticket an e-mail refers to: the subject tag first, then a plus-address recipient."""
    subject = message.subject or ""
    for pattern in _subject_tag_patterns():
        match = pattern.search(subject)
        if match:
            return int(match.group(1))
    recipients = [message.envelope_recipient or ""]
    recipients += [address.addr_spec for address in [*message.to, *message.cc]]
    for address in recipients:
        match = PLUS_ADDRESS.match(address.strip())
        if match:
            return int(match.group(1))
    return None


def strip_quoted(text: str) -> str:
    """The new part of a reply: up to the attribution line of the quoted e-mail ("On … wrote:",
    possibly wrapped over two lines; "Em … escreveu:"; Outlook's "-----Original Message-----" or
    a line of underscores), without "> " quoted lines."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if ATTRIBUTION.match(stripped) or ORIGINAL_MESSAGE.match(stripped):
            break
        if (
            ATTRIBUTION_START.match(stripped)
            and not ATTRIBUTION_END.search(stripped)
            and ATTRIBUTION.match(f"{stripped} {following}")
        ):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def reply_text(message: Any) -> str:
    text = message.text
    if not text and message.html:
        text = strip_tags(message.html)
    body = strip_quoted(text or "")
    return body or (getattr(message, "stripped_text", None) or "").strip() or (text or "").strip()


def sender_is_customer(customer_id: int, address: str) -> bool:
    return (
        Customer.objects.filter(pk=customer_id)
        .filter(Q(email__iexact=address) | Q(contacts__email__iexact=address))
        .exists()
    )


def known_customer(address: str) -> tuple[Customer | None, Contact | None]:
    """The one customer this address belongs to (its own e-mail first, else a contact's); None
    when unknown or when contacts of several customers share it."""
    customer = Customer.objects.filter(email__iexact=address).first()
    if customer is not None:
        return customer, None
    contacts = list(Contact.objects.filter(email__iexact=address).select_related("customer")[:20])
    if len({contact.customer_id for contact in contacts}) == 1:
        return contacts[0].customer, contacts[0]
    if contacts:
        log.warning("Inbound e-mail from %s ignored: contacts of several customers share it.", address)
    return None, None


def _is_automatic(message: Any) -> bool:
    """Out-of-office and other robot replies (RFC 3834): attaching them would re-open tickets and
    answer for the customer."""
    auto = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    return auto != "no" or precedence in ("bulk", "junk", "auto_reply") or bool(message.get("X-Autoreply"))


def on_inbound(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    message = event.message
    if message is None:
        return
    address = (message.from_email.addr_spec if message.from_email else "").strip().lower()
    message_id = (message.get("Message-ID") or "").strip() or (f"{esp_name}:{event.event_id}" if event.event_id else "")
    if not address or not message_id:
        log.warning("Inbound e-mail without a sender or a Message-ID ignored (%s).", esp_name)
        return
    if getattr(message, "spam_detected", False) or _is_automatic(message):
        log.info("Inbound e-mail %s from %s ignored: spam or an automatic reply.", message_id, address)
        return
    body = reply_text(message)

    number = ticket_number(message)
    ticket = Ticket.objects.filter(pk=number).only("id", "customer_id").first() if number else None
    if ticket is not None:
        if not sender_is_customer(ticket.customer_id, address):
            log.warning(
                "Inbound e-mail %s from %s ignored: not the customer of ticket #%s.", message_id, address, ticket.pk
            )
            return
        services.ticket_customer_reply(ticket=ticket, body=body, inbound_id=message_id)
        return
    if number:
        log.info("Inbound e-mail %s names ticket #%s, which does not exist.", message_id, number)

    customer, contact = known_customer(address)
    if customer is None:
        log.info("Inbound e-mail %s from %s ignored: no customer has this address.", message_id, address)
        return
    subject = (message.subject or "").strip()[:200]
    try:
        services.ticket_create(
            actor=None,
            customer=customer,
            contact=contact,
            subject=subject or _("E-mail from %(address)s") % {"address": address},
            description=body,
            channel=Ticket.Channel.EMAIL,
            source_key=f"inbound:{message_id}",
        )
    except ValidationError:
        log.exception("Inbound e-mail %s from %s could not open a ticket.", message_id, address)
