"""Display helpers of the support pages: human durations, the SLA timer of a ticket (queue row,
ticket header, 360 panel) and the customer's tickets panel for the 360 page.

The timer is computed from the SLA fields support.services keeps on the ticket, never from the
history, so a list page costs no query per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from posvenda import roles
from support import selectors
from support.models import Ticket

register = template.Library()

DEFAULT_WARN_SECONDS = 3600
CLOSED = (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)


def duration(seconds: float | None, *, days: bool = True) -> str:
    """ "45 min", "2 h 30 min", "1 d 4 h" (to the nearest minute; ``days=False`` keeps hours, for
    business time where a "day" would read as 24 hours)."""
    if seconds is None:
        return "—"
    minutes = int(round(abs(float(seconds)) / 60))
    if minutes < 1 and seconds:
        return _("less than 1 min")
    hours, mins = divmod(minutes, 60)
    if days and hours >= 24:
        d, h = divmod(hours, 24)
        return _("%(days)s d %(hours)s h") % {"days": d, "hours": h} if h else _("%(days)s d") % {"days": d}
    if hours:
        return (
            _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": mins}
            if mins
            else _("%(hours)s h") % {"hours": hours}
        )
    return _("%(minutes)s min") % {"minutes": mins}


@register.filter(name="duration")
def duration_filter(seconds: float | None, unit: str = "") -> str:
    return duration(seconds, days=unit != "hours")


@dataclass(frozen=True)
class Timer:
    """What the timer says: ``state`` is a CSS suffix and the queue's SLA filter value (or met)."""

    text: str
    state: str  # on_track, at_risk, breached, paused, met, none
    clock: str = ""  # "first response" / "resolution": which clock the text is about
    due_at: datetime | None = None


def _warn_seconds(ticket: Ticket) -> int:
    # Only when the policy came with the ticket (select_related): the 360 panel must not query per row.
    policy = ticket._state.fields_cache.get("sla_policy") if ticket.sla_policy_id else None
    return policy.warn_before_minutes * 60 if policy is not None else DEFAULT_WARN_SECONDS


def _running(due: datetime, now: datetime, warn: int, clock: str) -> Timer:
    left = (due - now).total_seconds()
    if left <= 0:
        return Timer(_("overdue by %(time)s") % {"time": duration(-left)}, "breached", clock, due)
    state = "at_risk" if left <= warn else "on_track"
    return Timer(_("%(time)s left") % {"time": duration(left)}, state, clock, due)


def ticket_timer(ticket: Ticket, now: datetime | None = None) -> Timer:
    """The one timer a queue row shows: the first response clock while unanswered, else resolution."""
    now = now or timezone.now()
    if ticket.status in CLOSED:
        if ticket.sla_policy_id is None:
            return Timer(_("no SLA"), "none")
        if ticket.first_response_breached or ticket.resolution_breached:
            return Timer(_("breached"), "breached")
        return Timer(_("met"), "met")
    if ticket.sla_policy_id is None:
        return Timer(_("no SLA"), "none")
    warn = _warn_seconds(ticket)
    if ticket.first_response_at is None and ticket.first_response_due_at is not None:
        return _running(ticket.first_response_due_at, now, warn, _("first response"))
    if ticket.resolution_paused:
        return _paused(ticket)
    if ticket.resolution_due_at is not None:
        return _running(ticket.resolution_due_at, now, warn, _("resolution"))
    return Timer(_("no SLA"), "none")


def _paused(ticket: Ticket) -> Timer:
    remaining = ticket.resolution_remaining_seconds
    if remaining is None:
        return Timer(_("paused"), "paused", _("resolution"))
    if remaining < 0:
        text = _("paused — overdue by %(time)s") % {"time": duration(-remaining, days=False)}
    else:
        # the policy's clock (business hours, usually): "1 d" would read as 24 hours
        text = _("paused — %(time)s left") % {"time": duration(remaining, days=False)}
    return Timer(text, "paused", _("resolution"))


def first_response_timer(ticket: Ticket, now: datetime | None = None) -> Timer:
    """The first response clock for the ticket page."""
    now = now or timezone.now()
    if ticket.first_response_at is not None:
        took = duration(ticket.first_response_seconds)
        if ticket.sla_policy_id is None:
            return Timer(_("answered in %(time)s") % {"time": took}, "none", due_at=ticket.first_response_at)
        if ticket.first_response_breached:
            return Timer(
                _("breached — answered in %(time)s") % {"time": took}, "breached", due_at=ticket.first_response_due_at
            )
        return Timer(_("met — answered in %(time)s") % {"time": took}, "met", due_at=ticket.first_response_due_at)
    if ticket.sla_policy_id is None or ticket.first_response_due_at is None:
        return Timer(_("no SLA"), "none")
    if ticket.status in CLOSED:
        if ticket.first_response_breached:
            return Timer(_("breached — no reply"), "breached", due_at=ticket.first_response_due_at)
        return Timer(_("no reply needed"), "met", due_at=ticket.first_response_due_at)
    return _running(ticket.first_response_due_at, now, _warn_seconds(ticket), "")


def resolution_timer(ticket: Ticket, now: datetime | None = None) -> Timer:
    """The resolution clock for the ticket page."""
    now = now or timezone.now()
    if ticket.status in CLOSED:
        took = _("resolved in %(time)s (%(business)s business)") % {
            "time": duration(ticket.resolution_seconds),
            "business": duration(ticket.resolution_business_seconds, days=False),
        }
        if ticket.sla_policy_id is None:
            return Timer(took, "none")
        if ticket.resolution_breached:
            return Timer(_("breached — %(detail)s") % {"detail": took}, "breached")
        return Timer(_("met — %(detail)s") % {"detail": took}, "met")
    if ticket.sla_policy_id is None:
        return Timer(_("no SLA"), "none")
    if ticket.resolution_paused:
        return _paused(ticket)
    if ticket.resolution_due_at is None:
        return Timer(_("no SLA"), "none")
    return _running(ticket.resolution_due_at, now, _warn_seconds(ticket), "")


@register.inclusion_tag("support/_timer.html", takes_context=True)
def sla_timer(context: template.Context, ticket: Ticket, which: str = "") -> dict[str, Any]:
    now = context.get("now") or timezone.now()
    if which == "first_response":
        timer = first_response_timer(ticket, now)
    elif which == "resolution":
        timer = resolution_timer(ticket, now)
    else:
        timer = ticket_timer(ticket, now)
    return {"timer": timer, "show_clock": which == ""}


@register.inclusion_tag("support/_customer_panel.html")
def customer_tickets_panel(customer: Any, user: Any) -> dict[str, Any]:
    """The customer's recent tickets for the 360 page: ``{% customer_tickets_panel customer user %}``."""
    tickets = selectors.customer_tickets(customer_id=customer.pk)
    return {
        "customer": customer,
        "tickets": tickets,
        "open_count": sum(1 for t in tickets if t.is_open),
        "can_create": roles.is_agent(user),
        "now": timezone.now(),
    }


@register.filter
def lookup(mapping: dict[str, Any], key: str) -> Any:
    """A stored code as its label (``{{ status_labels|lookup:event.to_value }}``); the code when unknown."""
    return mapping.get(key, key) if key else "—"


@register.filter
def minutes(value: int | None) -> str:
    """A policy target in minutes, in hours and minutes ("18 h", "1 h 30 min")."""
    return duration(value * 60, days=False) if value is not None else "—"
