"""Every messaging write: templates rendering, queueing (the outbox), approval, delivery,
tracking, suppression and the customer's own consent choices.

Exactly-once rules:
- ``message_queue`` is keyed by a unique idempotency key: a second call returns the first row.
- ``message_deliver_batch`` (and ``message_deliver``, a batch of one) claims the rows with one
  ``UPDATE ... SET status='sending' WHERE id IN (...) AND status='queued' RETURNING id``; only the
  rows that caller's UPDATE touched are sent, so duplicate or racing tasks send nothing twice.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import Consent, Customer, Order
from posvenda import roles

from . import links, selectors
from .adapters import ChannelAdapter, get_adapter
from .conf import setting
from .models import Channel, Message, MessageEvent, MessageTemplate, Suppression

log = logging.getLogger(__name__)

Status = Message.Status
Reason = Message.BlockedReason

# Canonical variable -> the names a template may use for it (pt-BR first, English second).
VARIABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("nome", "name"),
    "first_name": ("primeiro_nome", "first_name"),
    "product": ("produto", "product"),
    "owner": ("responsavel", "owner"),
    "last_order": ("ultimo_pedido", "last_order"),
    "company": ("empresa", "company"),
    "preferences_url": ("link_preferencias", "preferences_url"),
    "unsubscribe_url": ("link_descadastro", "unsubscribe_url"),
    "loyalty_url": ("link_fidelidade", "loyalty_url"),
}
AVAILABLE_VARIABLES: tuple[str, ...] = tuple(alias for aliases in VARIABLE_ALIASES.values() for alias in aliases)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Statuses that count against the weekly cap: everything that was (or is about to be) sent.
CAP_STATUSES = (
    Status.QUEUED,
    Status.SENDING,
    Status.SENT,
    Status.DELIVERED,
    Status.OPENED,
    Status.CLICKED,
    Status.BOUNCED,
    Status.COMPLAINED,
)
# Engagement only moves forward: a late "delivered" never overwrites "clicked".
_RANK = {
    Status.QUEUED: 0,
    Status.SENDING: 0,
    Status.FAILED: 0,
    Status.SENT: 1,
    Status.DELIVERED: 2,
    Status.OPENED: 3,
    Status.CLICKED: 4,
}


def weekly_cap() -> int:
    return int(setting("MESSAGING_WEEKLY_CAP", 3))


def max_attempts() -> int:
    return int(setting("MESSAGING_MAX_ATTEMPTS", 5))


# --- Templates -------------------------------------------------------------------------------


def _parse(text: str, *, field: str, available: Iterable[str]) -> list[tuple[str, str | None]]:
    """Split ``text`` into (literal, variable) pairs; every problem becomes a ValidationError."""
    available = set(available)
    try:
        parts = list(string.Formatter().parse(text or ""))
    except ValueError as exc:
        raise ValidationError({field: [_("Unbalanced braces. Write {{ and }} for a literal brace.")]}) from exc
    result: list[tuple[str, str | None]] = []
    for literal, name, format_spec, conversion in parts:
        if name is None:
            result.append((literal, None))
            continue
        if not _IDENTIFIER.match(name) or format_spec or conversion or name not in available:
            shown = (
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{format_spec}" if format_spec else "") + "}"
            )
            raise ValidationError(
                {
                    field: [
                        _("Unknown variable %(variable)s. Available: %(available)s")
                        % {"variable": shown, "available": ", ".join("{" + v + "}" for v in sorted(available))}
                    ]
                }
            )
        result.append((literal, name))
    return result


def _fill(parts: list[tuple[str, str | None]], values: Mapping[str, str]) -> str:
    return "".join(literal + (values[name] if name is not None else "") for literal, name in parts)


def template_validate(*, subject: str, body: str, extra: Iterable[str] = ()) -> None:
    """Raise ValidationError (per field) when subject or body use an unknown variable or bad braces."""
    available = set(AVAILABLE_VARIABLES) | set(extra)
    errors: dict[str, list[str]] = {}
    for field, text in (("subject", subject), ("body", body)):
        try:
            _parse(text, field=field, available=available)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def _money(amount: Any) -> str:
    number = formats.number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)
    return f"R$ {number}" if not (translation.get_language() or "").startswith("en") else f"R${number}"


def _loyalty_url(customer: Customer) -> str:
    """The customer's signed loyalty page (balance, rewards, referral link); the account is created
    on first use, as it holds the referral code the link is signed with."""
    if not customer.pk:
        return ""
    from loyalty.links import account_url
    from loyalty.services import account_for

    return account_url(customer.pk, account_for(customer).referral_code)


def template_variables(*, customer: Customer, language: str) -> dict[str, str]:
    """Values of the built-in variables for ``customer``, formatted for ``language``."""
    with translation.override(language):
        last_order = (
            Order.objects.filter(customer_id=customer.pk)
            .exclude(status__in=[Order.Status.CANCELLED, Order.Status.REFUNDED])
            .order_by("-purchased_at", "-id")
            .only("purchased_at", "amount", "product", "external_id")
            .first()
        )
        owner = customer.owner if customer.owner_id else None
        owner_name = (owner.get_full_name() or owner.get_username()) if owner else _("our team")
        if last_order is not None:
            when = formats.date_format(timezone.localtime(last_order.purchased_at), "SHORT_DATE_FORMAT")
            last_order_text = (
                f"{last_order.product or last_order.external_id or _('order')} ({when}, {_money(last_order.amount)})"
            )
        else:
            last_order_text = ""
        canonical = {
            "name": customer.name,
            "first_name": customer.name.split()[0]
            if customer.kind == Customer.Kind.PERSON and customer.name
            else customer.name,
            "product": (last_order.product if last_order and last_order.product else customer.plan)
            or str(_("our products")),
            "owner": str(owner_name),
            "last_order": last_order_text,
            "company": setting("MESSAGING_COMPANY_NAME", "Posvenda"),
            "preferences_url": links.preferences_url(customer.pk) if customer.pk else "",
            "unsubscribe_url": links.unsubscribe_url(customer.pk) if customer.pk else "",
            "loyalty_url": _loyalty_url(customer),
        }
    return {alias: canonical[key] for key, aliases in VARIABLE_ALIASES.items() for alias in aliases}


def text_render(
    *,
    subject: str,
    body: str,
    customer: Customer,
    context: Mapping[str, Any] | None = None,
    language: str | None = None,
) -> tuple[str, str]:
    """Render free subject/body text (e.g. a template being edited) for a customer."""
    language = language or customer.language or settings.LANGUAGE_CODE
    values = template_variables(customer=customer, language=language)
    values.update({str(k): "" if v is None else str(v) for k, v in (context or {}).items()})
    errors: dict[str, list[str]] = {}
    parsed: dict[str, list[tuple[str, str | None]]] = {}
    for field, text in (("subject", subject), ("body", body)):
        try:
            parsed[field] = _parse(text, field=field, available=values)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return _fill(parsed["subject"], values).strip(), _fill(parsed["body"], values)


def template_render(
    *,
    template: MessageTemplate,
    customer: Customer,
    context: dict | None = None,
    language: str | None = None,
) -> tuple[str, str]:
    """(subject, body) of ``template`` for ``customer`` in their language (pt-BR fallback)."""
    language = language or customer.language or settings.LANGUAGE_CODE
    subject, body = template.texts_for(language)
    return text_render(subject=subject, body=body, customer=customer, context=context, language=language)


@transaction.atomic
def template_save(*, template: MessageTemplate) -> MessageTemplate:
    """Validate (model fields and template variables) and save a template."""
    errors: dict[str, list[str]] = {}
    for suffix in ("pt_br", "en"):
        try:
            template_validate(subject=getattr(template, f"subject_{suffix}"), body=getattr(template, f"body_{suffix}"))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors[f"{field}_{suffix}"] = messages
    if errors:
        raise ValidationError(errors)
    template.full_clean()
    template.save()
    return template


# --- Queueing (the outbox) -------------------------------------------------------------------


def _event(
    message: Message,
    event_type: str,
    *,
    at: datetime | None = None,
    detail: str = "",
    payload: dict | None = None,
    provider_event_id: str = "",
) -> MessageEvent:
    return MessageEvent.objects.create(
        message=message,
        event_type=event_type,
        at=at or timezone.now(),
        detail=str(detail)[:500],
        payload=payload or {},
        provider_event_id=provider_event_id[:255],
    )


def _blocked_reason(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    adapter: ChannelAdapter | None,
    address: str,
    check_cap: bool,
) -> str:
    """Why this message may not go out now ("" when it may)."""
    if adapter is None:
        return Reason.CHANNEL_NOT_CONFIGURED
    if not address:
        return Reason.NO_ADDRESS
    if selectors.is_suppressed(address=address):
        return Reason.SUPPRESSED
    if purpose != Consent.Purpose.SERVICE and not selectors.consent_in_force(
        customer_id=customer.pk, channel=channel, purpose=purpose
    ):
        return Reason.NO_CONSENT
    if check_cap:
        # Serialise concurrent automated sends to one customer, so two of them cannot both pass the cap.
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
        since = timezone.now() - timedelta(days=7)
        sent = Message.objects.filter(
            customer_id=customer.pk, automated=True, status__in=CAP_STATUSES, queued_at__gte=since
        ).count()
        if sent >= weekly_cap():
            return Reason.FREQUENCY_CAP
    return ""


def _enqueue_on_commit(message_id: int) -> None:
    def enqueue() -> None:
        from . import tasks

        try:
            tasks.deliver.delay(message_id)
        except Exception:  # the row is the outbox: deliver_pending picks it up within a minute
            log.warning("Broker unavailable; message %s will be delivered by the outbox beat.", message_id)

    transaction.on_commit(enqueue)


def _effective_purpose(purpose: str | None, template: MessageTemplate | None) -> str:
    template_purpose = template.purpose if template is not None else Consent.Purpose.SERVICE
    if purpose is None:
        return template_purpose
    # A caller may make a message stricter than its template, never looser (no consent bypass).
    if purpose == Consent.Purpose.SERVICE and template_purpose != Consent.Purpose.SERVICE:
        return template_purpose
    return purpose


@transaction.atomic
def message_queue(
    *,
    customer: Customer,
    idempotency_key: str,
    template: MessageTemplate | None = None,
    subject: str | None = None,
    body: str | None = None,
    context: dict | None = None,
    purpose: str | None = None,
    channel: str | None = None,
    automated: bool = True,
    draft: bool = False,
    created_by: AbstractBaseUser | None = None,
    source: str = "",
    hand_off: bool = True,
    extra: dict | None = None,
) -> Message:
    """Create the one Message for ``idempotency_key`` in the caller's transaction.

    Returns the existing row unchanged when the key was used before (never a second send).
    The new row is a draft (``draft=True``), blocked (with the reason) or queued; a queued row is
    handed to a worker after commit, and the outbox beat delivers it if that hand-off is lost.
    ``channel`` and ``purpose`` default to the template's (else e-mail / service).
    ``extra``: structured parts the e-mail renders around the body (see ``Message.extra``).
    ``hand_off=False``: the caller hands queued rows to the workers itself, in batches
    (``messages_hand_off_on_commit``), as a campaign batch does.
    """
    key = (idempotency_key or "").strip()
    if not key:
        raise ValidationError({"idempotency_key": [_("An idempotency key is required.")]})
    existing = Message.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing

    channel = channel or (template.channel if template is not None else Channel.EMAIL)
    purpose = _effective_purpose(purpose, template)
    errors: dict[str, list[str]] = {}
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel %(channel)s.") % {"channel": channel}]
    if purpose not in Consent.Purpose.values:
        errors["purpose"] = [_("Unknown purpose %(purpose)s.") % {"purpose": purpose}]
    if errors:
        raise ValidationError(errors)

    language = customer.language or settings.LANGUAGE_CODE
    if template is not None:
        rendered_subject, rendered_body = template_render(
            template=template, customer=customer, context=context, language=language
        )
        subject = rendered_subject if subject is None else subject
        body = rendered_body if body is None else body
    if not (body or "").strip():
        raise ValidationError({"body": [_("The message has no text.")]})

    adapter = get_adapter(channel)
    address = adapter.address_for(customer) if adapter is not None else ""
    reason = _blocked_reason(
        customer=customer,
        channel=channel,
        purpose=purpose,
        adapter=adapter,
        address=address,
        check_cap=automated and not draft,
    )
    now = timezone.now()
    message = Message(
        customer=customer,
        channel=channel,
        template=template,
        purpose=purpose,
        language=language,
        to_address=address,
        subject=(subject or "").strip()[:200],
        body=body,
        extra=extra or {},
        idempotency_key=key[:200],
        automated=automated,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        source=(source or "")[:200],
    )
    if reason:
        message.status, message.blocked_reason = Status.BLOCKED, reason
    elif draft:
        message.status = Status.DRAFT
    else:
        message.status, message.queued_at, message.enqueued_at = Status.QUEUED, now, now
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        existing = Message.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return existing
    if reason:
        _event(message, MessageEvent.Type.BLOCKED, detail=Reason(reason).label)
    elif not draft and hand_off:
        _enqueue_on_commit(message.pk)
    return message


def _require_can_work(actor: AbstractBaseUser | None, message: Message) -> None:
    if actor is not None and not roles.can_edit_customer(actor, message.customer):
        raise PermissionDenied(_("You can only handle messages of the customers you own."))


def _lock_draft(message: Message) -> Message:
    locked = Message.objects.select_for_update().select_related("customer").get(pk=message.pk)
    if locked.status != Status.DRAFT:
        raise ValidationError(
            {"status": [_("This message was already handled (%(status)s).") % {"status": locked.get_status_display()}]}
        )
    return locked


@transaction.atomic
def message_approve(
    *,
    message: Message,
    actor: AbstractBaseUser | None,
    subject: str | None = None,
    body: str | None = None,
) -> Message:
    """A human approves a draft (optionally edited): it is queued, or blocked if it may not go out now."""
    _require_can_work(actor, message)
    locked = _lock_draft(message)
    if subject is not None:
        locked.subject = subject.strip()[:200]
    if body is not None:
        if not body.strip():
            raise ValidationError({"body": [_("The message has no text.")]})
        locked.body = body
    adapter = get_adapter(locked.channel)
    locked.to_address = adapter.address_for(locked.customer) if adapter is not None else ""
    # A person decided to send it: consent and suppression still apply, the automated cap does not.
    reason = _blocked_reason(
        customer=locked.customer,
        channel=locked.channel,
        purpose=locked.purpose,
        adapter=adapter,
        address=locked.to_address,
        check_cap=False,
    )
    locked.approved_by = actor if getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    if reason:
        locked.status, locked.blocked_reason = Status.BLOCKED, reason
    else:
        locked.status, locked.queued_at, locked.enqueued_at = Status.QUEUED, now, now
    locked.save()
    who = getattr(actor, "username", "") if actor is not None else ""
    _event(locked, MessageEvent.Type.APPROVED, detail=who)
    if reason:
        _event(locked, MessageEvent.Type.BLOCKED, detail=Reason(reason).label)
    else:
        _enqueue_on_commit(locked.pk)
    return locked


@transaction.atomic
def message_discard(*, message: Message, actor: AbstractBaseUser | None) -> Message:
    """Drop a draft without sending. The row stays, so its idempotency key is never sent later."""
    _require_can_work(actor, message)
    locked = _lock_draft(message)
    locked.status = Status.DISCARDED
    locked.save(update_fields=["status", "updated_at"])
    _event(locked, MessageEvent.Type.DISCARDED, detail=getattr(actor, "username", "") if actor else "")
    return locked


# --- Delivery ----------------------------------------------------------------------------------


def deliver_batch_size() -> int:
    """How many message ids one delivery task takes (campaign fan-out and the outbox beat)."""
    return max(int(setting("MESSAGING_DELIVER_TASK_SIZE", 200)), 1)


def message_batches(message_ids: Iterable[int], *, size: int | None = None) -> list[list[int]]:
    """``message_ids`` cut into lists of at most ``size`` (MESSAGING_DELIVER_TASK_SIZE)."""
    ids = list(message_ids)
    size = size or deliver_batch_size()
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def messages_hand_off_on_commit(message_ids: Iterable[int]) -> None:
    """After commit, put the queued messages on the broker in batches of MESSAGING_DELIVER_TASK_SIZE.

    The rows are the outbox: if the broker is down, the outbox beat delivers them within a minute.
    """
    batches = message_batches(message_ids)
    if not batches:
        return

    def enqueue() -> None:
        from . import tasks

        for batch in batches:
            try:
                tasks.deliver_batch.delay(batch)
            except Exception:
                log.warning("Broker unavailable; %s messages will be delivered by the outbox beat.", len(batch))
                return

    transaction.on_commit(enqueue)


def _claim(message_ids: Iterable[int]) -> list[int]:
    """Move the still-queued ones of ``message_ids`` to "sending" in one statement; return them.

    Only the caller whose UPDATE changed a row gets its id back, so a duplicate or racing task
    (PostgreSQL re-checks ``status`` after waiting for the row lock) claims nothing twice.
    """
    ids = sorted({int(pk) for pk in message_ids})
    if not ids:
        return []
    connection = connections[router.db_for_write(Message)]
    qn = connection.ops.quote_name
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Only quoted identifiers and placeholders are interpolated; every value is a parameter.
    table, status, attempts, updated_at, pk = map(
        qn, (Message._meta.db_table, "status", "attempts", "updated_at", "id")
    )
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f"UPDATE {table} SET {status} = %s, {attempts} = {attempts} + 1, {updated_at} = %s WHERE {pk} IN ({placeholders}) AND {status} = %s RETURNING {pk}"  # noqa: S608, E501
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(Status.SENDING), now, *ids, str(Status.QUEUED)])
        return sorted(row[0] for row in cursor.fetchall())


def _blocked_reasons(messages: list[Message], adapters: Mapping[str, ChannelAdapter | None]) -> dict[int, str]:
    """Why each claimed message may no longer go out (absent when it may): consent may have been
    revoked or the address suppressed since it was queued. Two queries for the whole batch."""
    suppressed = selectors.suppressed_addresses(addresses=[m.to_address for m in messages])
    in_force = selectors.consents_in_force(
        keys={(m.customer_id, m.channel, m.purpose) for m in messages if m.purpose != Consent.Purpose.SERVICE}
    )
    reasons: dict[int, str] = {}
    for m in messages:
        if adapters.get(m.channel) is None:
            reasons[m.pk] = Reason.CHANNEL_NOT_CONFIGURED
        elif not m.to_address:
            reasons[m.pk] = Reason.NO_ADDRESS
        elif m.to_address.strip().lower() in suppressed:
            reasons[m.pk] = Reason.SUPPRESSED
        elif m.purpose != Consent.Purpose.SERVICE and (m.customer_id, m.channel, m.purpose) not in in_force:
            reasons[m.pk] = Reason.NO_CONSENT
    return reasons


def message_deliver_batch(*, message_ids: list[int]) -> int:
    """Send the queued ones of ``message_ids``, each at most once; returns how many were sent.

    One conditional UPDATE claims them (a duplicate or racing call claims nothing), consent and
    suppression are checked again for the whole set, the e-mails go out over one connection, and
    the results are written with a few set-based UPDATEs. A message that fails is marked failed
    (the outbox beat retries it) without failing the others.
    """
    claimed = _claim(message_ids)
    if not claimed:
        return 0
    messages = list(Message.objects.filter(pk__in=claimed).order_by("pk"))
    adapters = {channel: get_adapter(channel) for channel in {m.channel for m in messages}}
    reasons = _blocked_reasons(messages, adapters)
    if reasons:
        now = timezone.now()
        with transaction.atomic():
            for reason in set(reasons.values()):
                Message.objects.filter(
                    pk__in=[pk for pk, r in reasons.items() if r == reason], status=Status.SENDING
                ).update(status=Status.BLOCKED, blocked_reason=reason, updated_at=now)
            MessageEvent.objects.bulk_create(
                MessageEvent(
                    message_id=pk, event_type=MessageEvent.Type.BLOCKED, at=now, detail=str(Reason(reason).label)
                )
                for pk, reason in reasons.items()
            )

    sent: dict[int, str] = {}
    failed: dict[int, str] = {}
    for channel, adapter in adapters.items():
        if adapter is None:
            continue
        to_send = [m for m in messages if m.channel == channel and m.pk not in reasons]
        for message, result in adapter.send_many(to_send):
            if isinstance(result, Exception):
                # Any backend error: record it; the outbox beat retries up to max attempts.
                failed[message.pk] = f"{type(result).__name__}: {result}"[:2000]
                log.warning("Message %s failed (attempt %s): %s", message.pk, message.attempts, failed[message.pk])
            else:
                sent[message.pk] = (result or "")[:255]

    now = timezone.now()
    with transaction.atomic():
        if sent:
            # A fast tracking webhook may already have moved the status on: only "sending" becomes "sent".
            Message.objects.filter(pk__in=list(sent)).update(
                status=Case(When(status=Status.SENDING, then=Value(Status.SENT)), default=F("status")),
                provider_message_id=Case(*(When(pk=pk, then=Value(pid)) for pk, pid in sent.items())),
                sent_at=now,
                error="",
                updated_at=now,
            )
        for pk, error in failed.items():
            Message.objects.filter(pk=pk, status=Status.SENDING).update(
                status=Status.FAILED, error=error, updated_at=now
            )
        if failed:
            MessageEvent.objects.bulk_create(
                MessageEvent(message_id=pk, event_type=MessageEvent.Type.FAILED, at=now, detail=error[:500])
                for pk, error in failed.items()
            )
    return len(sent)


def message_deliver(*, message_id: int) -> None:
    """Send one queued message, at most once. Safe to call twice or from racing workers."""
    message_deliver_batch(message_ids=[message_id])


def messages_due_for_delivery(*, now: datetime | None = None, batch: int | None = None) -> list[int]:
    """The outbox sweep: ids of queued messages whose hand-off to a worker is older than
    MESSAGING_REQUEUE_AFTER seconds (lost when Redis was down, or a retry is due).

    Failed messages with attempts left go back to queued after MESSAGING_RETRY_AFTER seconds;
    a message stuck in "sending" (worker killed mid-send) is marked failed and not retried,
    because the provider may have accepted it.
    """
    now = now or timezone.now()
    batch = batch or int(setting("MESSAGING_DELIVER_BATCH", 1000))
    requeue_after = timedelta(seconds=int(setting("MESSAGING_REQUEUE_AFTER", 60)))
    retry_after = timedelta(seconds=int(setting("MESSAGING_RETRY_AFTER", 300)))
    sending_timeout = timedelta(seconds=int(setting("MESSAGING_SENDING_TIMEOUT", 900)))

    Message.objects.filter(status=Status.SENDING, updated_at__lt=now - sending_timeout).update(
        status=Status.FAILED,
        attempts=max(max_attempts(), 1),
        error=_("Delivery was interrupted; not retried automatically to avoid a duplicate."),
        updated_at=now,
    )
    Message.objects.filter(status=Status.FAILED, attempts__lt=max_attempts(), updated_at__lt=now - retry_after).update(
        status=Status.QUEUED, enqueued_at=None, updated_at=now
    )
    with transaction.atomic():
        ids = list(
            Message.objects.filter(status=Status.QUEUED)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - requeue_after))
            .order_by("queued_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:batch]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(enqueued_at=now)
    return ids


# --- Tracking ----------------------------------------------------------------------------------

_TRACKED_TYPES = set(MessageEvent.Type.values)


@transaction.atomic
def suppression_add(
    *, address: str, reason: str, message: Message | None = None, at: datetime | None = None
) -> Suppression:
    suppression, _created = Suppression.objects.get_or_create(
        address=address.strip().lower(), defaults={"reason": reason, "message": message, "at": at or timezone.now()}
    )
    return suppression


@transaction.atomic
def message_track(
    *,
    provider_message_id: str,
    event_type: str,
    at: datetime | None,
    payload: dict | None,
    event_id: str = "",
    message_id: int | None = None,
    detail: str = "",
) -> Message | None:
    """Apply one tracking event (from an ESP webhook) to its message and record it.

    Status only moves forward (sent → delivered → opened → clicked); a hard bounce or a spam
    complaint marks the message and suppresses the address; an unsubscribe at the ESP revokes
    e-mail marketing and surveys consent. A webhook the ESP retries is recorded once.
    Returns None when no message matches.
    """
    qs = Message.objects.select_for_update()
    message = None
    if provider_message_id:
        message = qs.filter(provider_message_id=provider_message_id).order_by("-id").first()
    if message is None and message_id:
        message = qs.filter(pk=message_id).first()
    if message is None:
        log.info("Tracking event %s for unknown message %r ignored.", event_type, provider_message_id)
        return None
    kind = event_type if event_type in _TRACKED_TYPES else MessageEvent.Type.OTHER
    if event_id and MessageEvent.objects.filter(message=message, provider_event_id=event_id, event_type=kind).exists():
        return message
    at = at or timezone.now()
    _event(
        message,
        kind,
        at=at,
        detail=detail or ("" if kind != MessageEvent.Type.OTHER else event_type),
        payload=payload,
        provider_event_id=event_id,
    )

    fields: dict[str, Any] = {}
    if provider_message_id and not message.provider_message_id:
        fields["provider_message_id"] = provider_message_id[:255]
    if kind in (MessageEvent.Type.DELIVERED, MessageEvent.Type.OPENED, MessageEvent.Type.CLICKED):
        current = _RANK.get(message.status)
        if current is not None and _RANK[kind] > current:
            fields["status"] = kind
    elif kind == MessageEvent.Type.BOUNCED:
        if message.status != Status.COMPLAINED:
            fields["status"] = Status.BOUNCED
        if message.channel == Channel.EMAIL and message.to_address:
            suppression_add(address=message.to_address, reason=Suppression.Reason.BOUNCE, message=message, at=at)
    elif kind == MessageEvent.Type.COMPLAINED:
        fields["status"] = Status.COMPLAINED
        if message.to_address:
            suppression_add(address=message.to_address, reason=Suppression.Reason.COMPLAINT, message=message, at=at)
    elif kind == MessageEvent.Type.REJECTED:
        if message.status in (Status.SENDING, Status.SENT):
            fields["status"] = Status.FAILED
            fields["error"] = _("Rejected by the provider: %(detail)s") % {"detail": detail or "-"}
    elif kind == MessageEvent.Type.UNSUBSCRIBED and message.channel == Channel.EMAIL:
        preferences_unsubscribe(customer=message.customer, evidence=_("Unsubscribe reported by the e-mail provider."))
    if fields:
        for key, value in fields.items():
            setattr(message, key, value)
        message.save(update_fields=[*fields, "updated_at"])
    return message


# --- The customer's own choices (unsubscribe and preference centre) --------------------------


@transaction.atomic
def preferences_unsubscribe(*, customer: Customer, evidence: str) -> list[Consent]:
    """Revoke e-mail marketing and surveys. Appends a refusal only where one is not already in force."""
    states = selectors.consent_states(customer_id=customer.pk)
    recorded = []
    for purpose in selectors.PREFERENCE_PURPOSES:
        if states.get((Consent.Channel.EMAIL, purpose)) is not False:
            recorded.append(
                customer_services.consent_record(
                    actor=None,
                    customer=customer,
                    channel=Consent.Channel.EMAIL,
                    purpose=purpose,
                    granted=False,
                    source=Consent.Source.PREFERENCE_CENTRE,
                    evidence=evidence,
                )
            )
    return recorded


@transaction.atomic
def preferences_save(*, customer: Customer, choices: Mapping[tuple[str, str], bool], evidence: str) -> list[Consent]:
    """Store the customer's topic choices; appends a Consent record only for those that changed.

    Service messages cannot be switched off here (they are always allowed).
    """
    states = selectors.consent_states(customer_id=customer.pk)
    recorded = []
    for channel in selectors.PREFERENCE_CHANNELS:
        for purpose in selectors.PREFERENCE_PURPOSES:
            wanted = bool(choices.get((channel, purpose), False))
            if bool(states.get((channel, purpose))) == wanted:
                continue
            recorded.append(
                customer_services.consent_record(
                    actor=None,
                    customer=customer,
                    channel=channel,
                    purpose=purpose,
                    granted=wanted,
                    source=Consent.Source.PREFERENCE_CENTRE,
                    evidence=evidence,
                )
            )
    return recorded


# --- Template editing (CS managers) ------------------------------------------------------------

TEMPLATE_FIELDS = (
    "name",
    "slug",
    "channel",
    "purpose",
    "subject_pt_br",
    "body_pt_br",
    "subject_en",
    "body_en",
    "is_active",
)


def template_change(*, actor: Any, template: MessageTemplate | None = None, **fields: Any) -> MessageTemplate:
    """Create or change a message template from the CS pages: managers only, then template_save."""
    if not roles.is_manager(actor):
        raise PermissionDenied(_("Only a CS manager can change message templates."))
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise TypeError(f"unknown template fields: {sorted(unknown)}")
    template = template or MessageTemplate()
    for key, value in fields.items():
        setattr(template, key, value)
    return template_save(template=template)
