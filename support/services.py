"""Every write of the support app: tickets, their changes, replies and notes, SLA state and alerts.

Permissions: every CS user sees tickets and may open one; only the assignee or a CS manager changes
a ticket or replies (an agent may take an unassigned ticket). Every change writes a TicketEvent
(the ticket's history, also shown on the customer's timeline) and refreshes the SLA state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Contact, Customer
from funnel.models import Priority
from posvenda import events, roles

from . import sla
from .calendar import CalendarClock, business_calendar
from .models import SlaAlert, SlaPolicy, Team, Ticket, TicketEvent

log = logging.getLogger(__name__)

Status = Ticket.Status
Kind = TicketEvent.Kind

# Status moves a user may make (from → allowed targets). Reopening is the way back from resolved/closed.
TRANSITIONS: dict[str, set[str]] = {
    Status.NEW: {Status.OPEN, Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.OPEN: {Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.WAITING: {Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.ON_HOLD: {Status.OPEN, Status.WAITING, Status.RESOLVED, Status.CLOSED},
    Status.REOPENED: {Status.OPEN, Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.RESOLVED: {Status.REOPENED, Status.CLOSED},
    Status.CLOSED: {Status.REOPENED},
}


def _is_user(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False))


def can_work_ticket(user: Any, ticket: Ticket) -> bool:
    """Managers, and the assignee; anyone in a CS role may take an unassigned ticket."""
    if roles.is_manager(user):
        return True
    return roles.is_agent(user) and (ticket.assignee_id is None or ticket.assignee_id == user.pk)


def _require_can_work(actor: Any, ticket: Ticket) -> None:
    if actor is not None and not can_work_ticket(actor, ticket):
        raise PermissionDenied(_("Only the assignee or a CS manager can change this ticket."))


# --- SLA ----------------------------------------------------------------------------------------


def policy_for(*, priority: str, segment_id: int | None) -> SlaPolicy | None:
    """The policy of the customer's segment for this priority, else the priority's default policy."""
    policies = list(SlaPolicy.objects.filter(priority=priority, segment_id__in=[segment_id] if segment_id else []))
    if policies:
        return policies[0]
    return SlaPolicy.objects.filter(priority=priority, segment__isnull=True).first()


def status_history(ticket: Ticket) -> list[tuple[datetime, str]]:
    rows = ticket.events.filter(kind__in=(Kind.CREATED, Kind.STATUS)).order_by("at", "id").values_list("at", "to_value")
    history = [(at, value) for at, value in rows]
    return history or [(ticket.opened_at, ticket.status)]


def sla_refresh(*, ticket: Ticket, now: datetime | None = None) -> Ticket:
    """Recompute the ticket's SLA fields from its history and current policy, and save them."""
    now = now or timezone.now()
    policy = policy_for(priority=ticket.priority, segment_id=ticket.customer.segment_id)
    calendar = business_calendar()  # read once: the SLA clock and both business-time figures use it
    clock = calendar if policy is None or policy.business_hours else CalendarClock()
    state = sla.clock_state(
        opened_at=ticket.opened_at,
        history=status_history(ticket),
        first_response_at=ticket.first_response_at,
        first_response_target=policy.first_response_minutes * 60 if policy else None,
        resolution_target=policy.resolution_minutes * 60 if policy else None,
        clock=clock,
        now=now,
    )
    ticket.sla_policy = policy
    ticket.first_response_due_at = state.first_response_due_at
    ticket.first_response_breached = state.first_response_breached
    ticket.resolution_due_at = state.resolution_due_at
    ticket.resolution_paused = state.resolution_paused
    ticket.resolution_remaining_seconds = state.resolution_remaining_seconds
    ticket.resolution_breached = state.resolution_breached
    if ticket.first_response_at is not None:
        ticket.first_response_seconds = int((ticket.first_response_at - ticket.opened_at).total_seconds())
        ticket.first_response_business_seconds = calendar.seconds_between(ticket.opened_at, ticket.first_response_at)
    if ticket.resolved_at is not None and ticket.status in (Status.RESOLVED, Status.CLOSED):
        ticket.resolution_seconds = int((ticket.resolved_at - ticket.opened_at).total_seconds())
        ticket.resolution_business_seconds = calendar.seconds_between(ticket.opened_at, ticket.resolved_at)
    else:
        ticket.resolution_seconds = ticket.resolution_business_seconds = None
    ticket.save(
        update_fields=[
            "sla_policy",
            "first_response_due_at",
            "first_response_breached",
            "resolution_due_at",
            "resolution_paused",
            "resolution_remaining_seconds",
            "resolution_breached",
            "first_response_seconds",
            "first_response_business_seconds",
            "resolution_seconds",
            "resolution_business_seconds",
            "updated_at",
        ]
    )
    return ticket


# --- tickets ------------------------------------------------------------------------------------


def _event(ticket: Ticket, kind: str, *, actor: Any = None, at: datetime, **fields: Any) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, kind=kind, author=actor if _is_user(actor) else None, at=at, **fields
    )


def _validate_choice(errors: dict[str, list[str]], field: str, value: str, choices: Iterable[str]) -> None:
    if value not in choices:
        errors[field] = [_("Choose a valid value.")]


@transaction.atomic
def ticket_create(
    *,
    actor: AbstractBaseUser | None,
    customer: Customer,
    subject: str,
    description: str = "",
    channel: str = Ticket.Channel.EMAIL,
    category: str = Ticket.Category.QUESTION,
    priority: str = Priority.NORMAL,
    assignee: AbstractBaseUser | None = None,
    team: Team | None = None,
    contact: Contact | None = None,
    source_key: str | None = None,
    survey_response: Any = None,
    opened_at: datetime | None = None,
) -> tuple[Ticket, bool]:
    """Open a ticket; (ticket, created). With ``source_key`` the same source opens one ticket.

    The assignee defaults to the customer's owner. Any CS user may open a ticket; only a manager may
    assign it to someone other than themselves or the owner."""
    if actor is not None and not roles.is_agent(actor):
        raise PermissionDenied(_("Only the CS team can open tickets."))
    key = (source_key or "").strip()[:120] or None
    if key:
        existing = Ticket.objects.filter(source_key=key).first()
        if existing is not None:
            return existing, False
    subject = (subject or "").strip()
    errors: dict[str, list[str]] = {}
    if not subject:
        errors["subject"] = [_("Give the ticket a subject.")]
    elif len(subject) > 200:
        errors["subject"] = [_("Keep the subject under 200 characters.")]
    _validate_choice(errors, "channel", channel, Ticket.Channel.values)
    _validate_choice(errors, "category", category, Ticket.Category.values)
    _validate_choice(errors, "priority", priority, Priority.values)
    if contact is not None and contact.customer_id != customer.pk:
        errors["contact"] = [_("This contact belongs to another customer.")]
    if errors:
        raise ValidationError(errors)
    if assignee is None:
        assignee = customer.owner if customer.owner_id else None
    if (
        _is_user(actor)
        and assignee is not None
        and not roles.is_manager(actor)
        and assignee.pk not in (actor.pk, customer.owner_id)
    ):
        raise PermissionDenied(_("Only a CS manager can assign a ticket to someone else."))
    now = timezone.now()
    ticket = Ticket(
        customer=customer,
        contact=contact,
        subject=subject,
        description=(description or "").strip(),
        channel=channel,
        category=category,
        priority=priority,
        assignee=assignee,
        team=team,
        status=Status.NEW,
        opened_at=opened_at or now,
        source_key=key,
        survey_response=survey_response,
        created_by=actor if _is_user(actor) else None,
    )
    try:
        with transaction.atomic():
            ticket.save()
    except IntegrityError:
        existing = Ticket.objects.filter(source_key=key).first() if key else None
        if existing is None:
            raise
        return existing, False
    _event(ticket, Kind.CREATED, actor=actor, at=ticket.opened_at, to_value=Status.NEW, body=ticket.description)
    sla_refresh(ticket=ticket, now=now)
    events.emit(events.TICKET_CREATED, ticket_id=ticket.pk, customer_id=customer.pk)
    return ticket, True


@transaction.atomic
def ticket_change(
    *,
    actor: AbstractBaseUser | None,
    ticket: Ticket,
    status: str | None = None,
    priority: str | None = None,
    assignee: Any = ...,
    team: Any = ...,
    category: str | None = None,
    at: datetime | None = None,
) -> Ticket:
    """Change status, priority, assignee, team or category; each change is a history event.

    Status rules: waiting on customer pauses the resolution clock, resolving stops it, reopening
    (from resolved or closed) resumes it; a priority change re-targets both clocks."""
    at = at or timezone.now()
    locked = Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)
    _require_can_work(actor, locked)
    errors: dict[str, list[str]] = {}
    if status is not None and status != locked.status:
        if status not in Status.values:
            errors["status"] = [_("Choose a valid status.")]
        elif status not in TRANSITIONS[locked.status]:
            errors["status"] = [
                _("A %(from)s ticket cannot become %(to)s.")
                % {"from": Status(locked.status).label, "to": Status(status).label}
            ]
    if priority is not None and priority not in Priority.values:
        errors["priority"] = [_("Choose a valid priority.")]
    if category is not None and category not in Ticket.Category.values:
        errors["category"] = [_("Choose a valid category.")]
    if (
        assignee is not ...
        and _is_user(actor)
        and not roles.is_manager(actor)
        and (assignee is None or assignee.pk != actor.pk)
    ):
        errors["assignee"] = [_("Only a CS manager can assign a ticket to someone else.")]
    if errors:
        raise ValidationError(errors)

    resolved_now = False
    if status is not None and status != locked.status:
        previous = locked.status
        _event(locked, Kind.STATUS, actor=actor, at=at, from_value=previous, to_value=status)
        locked.status = status
        if status == Status.RESOLVED:
            locked.resolved_at = at
            resolved_now = True
        elif status == Status.CLOSED:
            locked.closed_at = at
            if locked.resolved_at is None or previous not in (Status.RESOLVED,):
                locked.resolved_at = at
                resolved_now = previous != Status.RESOLVED
        elif status == Status.REOPENED:
            locked.reopen_count += 1
            locked.resolved_at = None
            locked.closed_at = None
    if priority is not None and priority != locked.priority:
        _event(locked, Kind.PRIORITY, actor=actor, at=at, from_value=locked.priority, to_value=priority)
        locked.priority = priority
    if assignee is not ... and (assignee.pk if assignee else None) != locked.assignee_id:
        _event(
            locked,
            Kind.ASSIGNEE,
            actor=actor,
            at=at,
            from_value=str(locked.assignee or "")[:100],
            to_value=str(assignee or "")[:100],
        )
        locked.assignee = assignee
    if team is not ... and (team.pk if team else None) != locked.team_id:
        _event(
            locked,
            Kind.TEAM,
            actor=actor,
            at=at,
            from_value=str(locked.team or "")[:100],
            to_value=str(team or "")[:100],
        )
        locked.team = team
    if category is not None and category != locked.category:
        _event(locked, Kind.CATEGORY, actor=actor, at=at, from_value=locked.category, to_value=category)
        locked.category = category
    locked.save()
    sla_refresh(ticket=locked, now=max(at, timezone.now()))
    if resolved_now:
        events.emit(
            events.TICKET_RESOLVED, ticket_id=locked.pk, customer_id=locked.customer_id, cycle=locked.reopen_count
        )
    return locked


def _reply_email(ticket: Ticket, event: TicketEvent) -> Any:
    from messaging.services import message_queue

    customer = ticket.customer
    language = customer.language or settings.LANGUAGE_CODE
    with translation.override(language):
        subject = _("[Ticket #%(number)s] %(subject)s") % {"number": ticket.pk, "subject": ticket.subject}
    extra = {}
    reply_to = getattr(settings, "SUPPORT_REPLY_TO_EMAIL", "")
    if reply_to and "@" in reply_to:
        # support@x → support+123@x: the customer's answer comes back through the inbound webhook
        # (support/receivers.py) already pointing at this ticket.
        local, _sep, domain = reply_to.partition("@")
        extra["reply_to"] = f"{local}+{ticket.pk}@{domain}"
    return message_queue(
        customer=customer,
        idempotency_key=f"ticket-reply:{event.pk}",
        subject=subject,
        body=event.body,
        extra=extra,
        purpose="service",
        channel="email",
        automated=False,
        source=f"ticket:{ticket.pk}",
    )


@transaction.atomic
def ticket_reply(
    *,
    actor: AbstractBaseUser | None,
    ticket: Ticket,
    body: str,
    public: bool = True,
    status: str | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    """A public reply (e-mailed to the customer; the first one sets the first response time) or an
    internal note. ``status`` optionally changes the status in the same step (e.g. waiting)."""
    at = at or timezone.now()
    locked = Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)
    _require_can_work(actor, locked)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": [_("Write the reply or note.")]})
    event = _event(locked, Kind.REPLY if public else Kind.NOTE, actor=actor, at=at, body=body)
    if public:
        event.message = _reply_email(locked, event)
        event.save(update_fields=["message"])
        if locked.first_response_at is None:
            locked.first_response_at = at
            locked.save(update_fields=["first_response_at", "updated_at"])
        if status is None and locked.status in (Status.NEW, Status.REOPENED):
            status = Status.OPEN
    if status is not None and status != locked.status:
        ticket_change(actor=actor, ticket=locked, status=status, at=at)
    else:
        sla_refresh(ticket=locked, now=max(at, timezone.now()))
    return event


@transaction.atomic
def ticket_customer_reply(
    *, ticket: Ticket, body: str, inbound_id: str = "", at: datetime | None = None
) -> TicketEvent | None:
    """The customer wrote back (inbound e-mail): attach it once (by Message-ID); a ticket waiting on
    the customer reopens to open, a resolved or closed one is reopened."""
    at = at or timezone.now()
    key = (inbound_id or "").strip()[:255] or None
    if key and TicketEvent.objects.filter(inbound_id=key).exists():
        return None
    locked = Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)
    try:
        with transaction.atomic():
            event = _event(locked, Kind.CUSTOMER_REPLY, at=at, body=(body or "").strip(), inbound_id=key)
    except IntegrityError:
        return None
    if locked.status == Status.WAITING:
        ticket_change(actor=None, ticket=locked, status=Status.OPEN, at=at)
    elif locked.status in (Status.RESOLVED, Status.CLOSED):
        ticket_change(actor=None, ticket=locked, status=Status.REOPENED, at=at)
    return event


# --- SLA alerts (beat) ---------------------------------------------------------------------------


def _managers_for(ticket: Ticket) -> list[str]:
    if ticket.team_id and ticket.team.manager_id and ticket.team.manager.email:
        return [ticket.team.manager.email]
    users = get_user_model().objects.filter(is_active=True, groups__name__in=(roles.MANAGER,)).exclude(email="")
    return sorted({u.email for u in users})


def _alert(ticket: Ticket, kind: str, recipients: list[str], now: datetime) -> bool:
    """Claim the alert (unique per ticket, kind and reopen cycle), then e-mail it. False when it was
    sent before or there is nobody to tell."""
    if not recipients:
        return False
    try:
        with transaction.atomic():
            SlaAlert.objects.create(
                ticket=ticket, kind=kind, cycle=ticket.reopen_count, recipients=", ".join(recipients)[:500]
            )
    except IntegrityError:
        return False
    label = SlaAlert.Kind(kind).label
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "ticket": ticket,
            "label": label,
            "url": settings.SITE_URL.rstrip("/") + reverse("support:detail", args=[ticket.pk]),
        }
        subject = render_to_string("support/email/sla_alert_subject.txt", context).strip()
        body = render_to_string("support/email/sla_alert.txt", context)
    is_breach = kind in (SlaAlert.Kind.FIRST_RESPONSE_BREACH, SlaAlert.Kind.RESOLUTION_BREACH)
    _event(ticket, Kind.SLA_BREACH if is_breach else Kind.SLA_WARNING, at=now, to_value=kind, body=str(label))
    # Sent after commit: a rolled-back pass must not have e-mailed anyone.
    transaction.on_commit(lambda: mail.send_mail(subject, body, None, recipients))
    return True


@transaction.atomic
def sla_check(*, ticket_id: int, now: datetime | None = None) -> int:
    """Warn the assignee before a breach and escalate to the manager on breach, once each."""
    now = now or timezone.now()
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("customer", "assignee", "team", "team__manager", "sla_policy")
        .get(pk=ticket_id)
    )
    if not ticket.is_open or ticket.sla_policy_id is None:
        return 0
    sla_refresh(ticket=ticket, now=now)
    warn = timedelta(minutes=ticket.sla_policy.warn_before_minutes)
    assignee = [ticket.assignee.email] if ticket.assignee_id and ticket.assignee.email else []
    sent = 0
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        if now >= ticket.first_response_due_at:
            sent += _alert(
                ticket, SlaAlert.Kind.FIRST_RESPONSE_BREACH, sorted(set(_managers_for(ticket) + assignee)), now
            )
        elif now >= ticket.first_response_due_at - warn:
            sent += _alert(ticket, SlaAlert.Kind.FIRST_RESPONSE_WARNING, assignee, now)
    if ticket.resolution_due_at is not None:
        if now >= ticket.resolution_due_at:
            sent += _alert(ticket, SlaAlert.Kind.RESOLUTION_BREACH, sorted(set(_managers_for(ticket) + assignee)), now)
        elif now >= ticket.resolution_due_at - warn:
            sent += _alert(ticket, SlaAlert.Kind.RESOLUTION_WARNING, assignee, now)
    return sent


def sla_check_due(*, now: datetime | None = None, horizon: timedelta = timedelta(days=2)) -> int:
    """Every minute: check the open tickets whose first response or resolution is due soon."""
    from django.db.models import Q

    now = now or timezone.now()
    soon = now + horizon
    ids = list(
        Ticket.objects.exclude(status__in=(Status.RESOLVED, Status.CLOSED))
        .filter(sla_policy__isnull=False)
        .filter(Q(first_response_at__isnull=True, first_response_due_at__lte=soon) | Q(resolution_due_at__lte=soon))
        .values_list("id", flat=True)
    )
    sent = 0
    for ticket_id in ids:
        try:
            sent += sla_check(ticket_id=ticket_id, now=now)
        except Exception:
            log.exception("SLA check failed for ticket %s", ticket_id)
    return sent


# --- SLA policies and holidays (the SLA page) ---------------------------------------------------


def _require_manager(actor: Any) -> None:
    roles.require_manager(actor, _("Only a CS manager can change SLA policies and holidays."))


def _refresh_open_tickets(**filters: Any) -> int:
    """New targets or days off apply to the open tickets at once (their due times move)."""
    count = 0
    open_tickets = Ticket.objects.exclude(status__in=(Status.RESOLVED, Status.CLOSED)).filter(**filters)
    for ticket in open_tickets.select_related("customer").iterator(chunk_size=200):
        sla_refresh(ticket=ticket)
        count += 1
    return count


@transaction.atomic
def sla_policy_save(*, actor: AbstractBaseUser | None, policy: SlaPolicy | None = None, **fields: Any) -> SlaPolicy:
    """Create or update a policy (targets in minutes, above zero; one per priority and segment) and
    re-target the open tickets of its priority."""
    _require_manager(actor)
    errors: dict[str, list[str]] = {}
    for field in ("first_response_minutes", "resolution_minutes"):
        if not isinstance(fields.get(field), int) or fields[field] <= 0:
            errors[field] = [_("Give the target a time above zero.")]
    if fields.get("priority") not in Priority.values:
        errors["priority"] = [_("Choose a valid priority.")]
    if not (fields.get("name") or "").strip():
        errors["name"] = [_("Give the policy a name.")]
    if errors:
        raise ValidationError(errors)
    previous_priority = policy.priority if policy is not None else None
    policy = policy or SlaPolicy()
    for field, value in fields.items():
        setattr(policy, field, value)
    policy.name = policy.name.strip()
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise ValidationError(
            {"priority": [_("Another policy already covers this priority and segment. Edit that policy instead.")]}
        ) from None
    priorities = {policy.priority, previous_priority} - {None}
    _refresh_open_tickets(priority__in=priorities)
    return policy


@transaction.atomic
def holiday_add(*, actor: AbstractBaseUser | None, day: Any, name: str) -> Any:
    from .models import Holiday

    _require_manager(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the holiday a name.")]})
    try:
        with transaction.atomic():
            holiday = Holiday.objects.create(date=day, name=name[:100])
    except IntegrityError:
        raise ValidationError({"date": [_("This day is already a holiday.")]}) from None
    _refresh_open_tickets(sla_policy__business_hours=True)
    return holiday


@transaction.atomic
def holiday_remove(*, actor: AbstractBaseUser | None, holiday_id: int) -> bool:
    from .models import Holiday

    _require_manager(actor)
    deleted, _rows = Holiday.objects.filter(pk=holiday_id).delete()
    if deleted:
        _refresh_open_tickets(sla_policy__business_hours=True)
    return bool(deleted)
