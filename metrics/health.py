"""The customer health score (docs/metrics.md, "Health score"): services and selectors.

Five measures, each 0–100 or "no data" (left out, the others' weights scale up):

- ``survey``     the latest NPS or CSAT answer of the last 365 days;
- ``tickets``    open tickets and those of them past an SLA target;
- ``purchases``  the contract status (customers with contracts) or purchase recency and frequency;
- ``engagement`` opens and clicks of the e-mails sent in the last 90 days;
- ``manual``     the CS owner's rating, 1–5.

score = Σ weight × measure ÷ Σ weight (measures with data), rounded half up; the band comes from
the manager's limits. Every score keeps its parts (``HealthScore.components``) so a page can say
which measures pulled it down, and a snapshot is written on each day the score changes (the trend
carries the last value forward). Crossing into red claims ``red_since`` with a conditional UPDATE
and creates one task for the owner; leaving red clears it, so only a new crossing makes a new task.

The whole book is recomputed in batches of consecutive customer ids: per batch one query per
source (answers, tickets, orders, contracts, e-mails, current scores), measures in Python, then
one upsert of the scores and one of the snapshots — the query count does not depend on the batch
size, so a 1,000,000-customer book is a few hundred batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Contract, Customer, Order
from posvenda import roles

from .models import HealthBand, HealthConfig, HealthScore, HealthSnapshot

log = logging.getLogger(__name__)

MEASURES = ("survey", "tickets", "purchases", "engagement", "manual")
MEASURE_LABELS = {
    "survey": gettext_lazy("Latest NPS/CSAT"),
    "tickets": gettext_lazy("Open and breached tickets"),
    "purchases": gettext_lazy("Purchases or contract"),
    "engagement": gettext_lazy("E-mail engagement"),
    "manual": gettext_lazy("Owner's rating"),
}
WEIGHT_FIELDS = {name: f"weight_{name}" for name in MEASURES}

SURVEY_WINDOW = timedelta(days=365)
ENGAGEMENT_WINDOW = timedelta(days=90)
ORDER_FULL_RECENCY_DAYS = 90  # a paid order this recent scores full recency
ORDER_ZERO_RECENCY_DAYS = 365  # … and one this old (or older) scores none
RENEWAL_RISK_DAYS = 60  # an active contract ending this soon without auto-renew is at risk
TICKET_OPEN_PENALTY = 15
TICKET_BREACH_PENALTY = 25
RED_TASK_DUE_DAYS = 2
BATCH_SIZE = 2000
TREND_DAYS = 90


def _half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up, in integers (no 67.4999… surprises)."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- configuration ------------------------------------------------------------------------------


def health_config_get() -> HealthConfig:
    """The one settings row; the defaults (unsaved) until a manager first saves. Reading never writes,
    so a page costs the same queries before and after."""
    return HealthConfig.objects.order_by("pk").first() or HealthConfig()


def health_config_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Per-field messages for weights and band limits (shared by the settings page and the API)."""
    errors: dict[str, list[str]] = {}
    for name in [*WEIGHT_FIELDS.values(), "red_below", "green_from"]:
        value = values.get(name)
        low = 1 if name in ("red_below", "green_from") else 0
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 100:
            errors[name] = [_("Enter a whole number from %(low)s to 100.") % {"low": low}]
    if not errors and sum(values[f] for f in WEIGHT_FIELDS.values()) == 0:
        errors["weight_survey"] = [_("Give at least one measure a weight above 0.")]
    if "red_below" not in errors and "green_from" not in errors and values["red_below"] >= values["green_from"]:
        errors["green_from"] = [
            _("Green must start above the red limit (%(red)s): red is below it, green from here.")
            % {"red": values["red_below"]}
        ]
    return errors


@transaction.atomic
def health_config_save(*, actor: Any, values: dict[str, int]) -> HealthConfig:
    """Save weights and band limits (managers only) and recompute every score after commit."""
    roles.require_manager(actor, _("Only a CS manager can change the health score settings."))
    errors = health_config_errors(values)
    if errors:
        raise ValidationError(errors)
    config = HealthConfig.objects.select_for_update().order_by("pk").first()
    if config is None:
        try:
            with transaction.atomic():
                config = HealthConfig.objects.create(pk=1)
        except IntegrityError:  # a concurrent first save created it
            config = HealthConfig.objects.select_for_update().get(pk=1)
    for name in [*WEIGHT_FIELDS.values(), "red_below", "green_from"]:
        setattr(config, name, values[name])
    config.updated_by = actor if getattr(actor, "is_authenticated", False) else None
    config.save()
    transaction.on_commit(_enqueue_recompute_all)
    return config


def _enqueue_recompute_all() -> None:
    from . import health_tasks

    try:
        health_tasks.health_recompute_all.delay()
    except Exception:  # the nightly run picks the new settings up anyway
        log.exception("health: could not queue the recompute after a settings change")


def band_for(score: int, config: HealthConfig) -> str:
    if score < config.red_below:
        return HealthBand.RED
    if score >= config.green_from:
        return HealthBand.GREEN
    return HealthBand.YELLOW


# --- measures (pure functions of the facts; each returns 0–100, or None for "no data") ------------


def survey_measure(kind: str | None, score: int | None) -> int | None:
    """NPS 9–10 → 100, 8 → 75, 7 → 60, 0–6 → score × 5 (a 6 is 30, a 0 is 0).
    CSAT 1–5 → (score − 1) × 25 (5 → 100, 3 → 50, 1 → 0)."""
    if score is None:
        return None
    if kind == "nps":
        if score >= 9:
            return 100
        return {8: 75, 7: 60}.get(score, score * 5)
    if kind == "csat":
        return (score - 1) * 25
    return None


def tickets_measure(open_count: int, breached_count: int) -> int:
    """100 − 15 per open ticket − 25 more per open ticket past its SLA, never below 0."""
    return max(0, 100 - TICKET_OPEN_PENALTY * open_count - TICKET_BREACH_PENALTY * breached_count)


def recency_measure(days: int) -> int:
    """Days since the last paid order: ≤ 90 → 100, ≥ 365 → 0, linear in between."""
    if days <= ORDER_FULL_RECENCY_DAYS:
        return 100
    if days >= ORDER_ZERO_RECENCY_DAYS:
        return 0
    span = ORDER_ZERO_RECENCY_DAYS - ORDER_FULL_RECENCY_DAYS
    return _half_up(100 * (ORDER_ZERO_RECENCY_DAYS - days), span)


def frequency_measure(orders_12m: int) -> int:
    """Paid orders in the last 12 months: 0 → 0, 1 → 50, 2 → 75, 3 or more → 100."""
    return 0 if orders_12m <= 0 else min(100, 25 + 25 * orders_12m)


def contract_measure(active: int, renewing: int) -> int:
    """No active contract → 0; active but every one ends within 60 days without auto-renewal → 50;
    otherwise 100."""
    if active == 0:
        return 0
    return 100 if renewing else 50


def engagement_measure(sent: int, engaged: int, complained: int) -> int | None:
    """E-mails sent in 90 days: opened-or-clicked share × 2, capped at 100 (opening half is full
    marks); a spam complaint → 0; nothing sent → no data."""
    if sent <= 0:
        return None
    if complained:
        return 0
    return min(100, _half_up(200 * engaged, sent))


def manual_measure(rating: int | None) -> int | None:
    """The owner's 1–5 rating → (rating − 1) × 25."""
    return None if rating is None else (rating - 1) * 25


# --- facts: what the measures are computed from, for many customers at once ----------------------


@dataclass
class Facts:
    survey_kind: str | None = None
    survey_score: int | None = None
    survey_at: datetime | None = None
    open_tickets: int = 0
    breached_tickets: int = 0
    contracts: int = 0
    active_contracts: int = 0
    renewing_contracts: int = 0
    last_order_at: datetime | None = None
    orders_12m: int = 0
    emails_sent: int = 0
    emails_engaged: int = 0
    emails_complained: int = 0
    manual_rating: int | None = None


@dataclass(frozen=True)
class Scope:
    """Which customers a computation covers: an inclusive id range (a batch of the book) or ids."""

    lo: int | None = None
    hi: int | None = None
    ids: tuple[int, ...] = ()

    def q(self, prefix: str = "customer_id") -> Q:
        if self.ids:
            return Q(**{f"{prefix}__in": self.ids})
        return Q(**{f"{prefix}__gte": self.lo, f"{prefix}__lte": self.hi})


def _breached_q(now: datetime) -> Q:
    """An open ticket past an SLA target — the support queue's "breached" filter."""
    first_response_late = Q(first_response_at__isnull=True) & (
        Q(first_response_breached=True) | Q(first_response_due_at__lte=now)
    )
    return Q(sla_policy__isnull=False) & (
        first_response_late | Q(resolution_breached=True) | Q(resolution_due_at__lte=now)
    )


def collect_facts(scope: Scope, *, now: datetime) -> dict[int, Facts]:
    """The facts of every customer in ``scope`` that has any, in five queries."""
    from messaging.models import Channel, Message
    from support.models import Ticket
    from support.selectors import OPEN_STATUSES
    from surveys.models import Response

    facts: dict[int, Facts] = {}

    def of(customer_id: int) -> Facts:
        found = facts.get(customer_id)
        if found is None:
            found = facts[customer_id] = Facts()
        return found

    # Latest NPS/CSAT answer: newest first per customer, the first row seen wins.
    answers = (
        Response.objects.filter(
            scope.q(), kind__in=("nps", "csat"), score__isnull=False, answered_at__gte=now - SURVEY_WINDOW
        )
        .order_by("customer_id", "-answered_at", "-id")
        .values_list("customer_id", "kind", "score", "answered_at")
    )
    for customer_id, kind, score, answered_at in answers:
        f = of(customer_id)
        if f.survey_at is None:
            f.survey_kind, f.survey_score, f.survey_at = kind, score, answered_at

    tickets = (
        Ticket.objects.filter(scope.q(), status__in=OPEN_STATUSES)
        .values("customer_id")
        .annotate(open=Count("id"), breached=Count("id", filter=_breached_q(now)))
        .order_by()
        .values_list("customer_id", "open", "breached")
    )
    for customer_id, open_count, breached in tickets:
        f = of(customer_id)
        f.open_tickets, f.breached_tickets = open_count, breached

    today = timezone.localdate(now)
    active = Q(status=Contract.Status.ACTIVE)
    renewing = active & (
        Q(auto_renew=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=today + timedelta(days=RENEWAL_RISK_DAYS))
    )
    contracts = (
        Contract.objects.filter(scope.q())
        .values("customer_id")
        .annotate(n=Count("id"), active=Count("id", filter=active), renewing=Count("id", filter=renewing))
        .order_by()
        .values_list("customer_id", "n", "active", "renewing")
    )
    for customer_id, n, active_count, renewing_count in contracts:
        f = of(customer_id)
        f.contracts, f.active_contracts, f.renewing_contracts = n, active_count, renewing_count

    orders = (
        Order.objects.filter(scope.q(), status=Order.Status.PAID)
        .values("customer_id")
        .annotate(last=Max("purchased_at"), n12=Count("id", filter=Q(purchased_at__gte=now - timedelta(days=365))))
        .order_by()
        .values_list("customer_id", "last", "n12")
    )
    for customer_id, last, n12 in orders:
        f = of(customer_id)
        f.last_order_at, f.orders_12m = last, n12

    reached = (
        Message.Status.SENT,
        Message.Status.DELIVERED,
        Message.Status.OPENED,
        Message.Status.CLICKED,
        Message.Status.BOUNCED,
        Message.Status.COMPLAINED,
    )
    emails = (
        Message.objects.filter(
            scope.q(), channel=Channel.EMAIL, status__in=reached, sent_at__gte=now - ENGAGEMENT_WINDOW
        )
        .values("customer_id")
        .annotate(
            sent=Count("id"),
            engaged=Count("id", filter=Q(status__in=(Message.Status.OPENED, Message.Status.CLICKED))),
            complained=Count("id", filter=Q(status=Message.Status.COMPLAINED)),
        )
        .order_by()
        .values_list("customer_id", "sent", "engaged", "complained")
    )
    for customer_id, sent, engaged, complained in emails:
        f = of(customer_id)
        f.emails_sent, f.emails_engaged, f.emails_complained = sent, engaged, complained
    return facts


def measure_all(
    facts: Facts, *, now: datetime, tz: tzinfo | None = None
) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """Each measure's score (None: no data) and the facts behind it, for the explanation."""
    # The zone is looked up once per batch by the caller: timezone.localdate() per row was a third
    # of a batch's Python time.
    tz = tz or timezone.get_current_timezone()
    today = now.astimezone(tz).date()
    out: dict[str, tuple[int | None, dict[str, Any]]] = {}
    survey_detail: dict[str, Any] = {}
    if facts.survey_at is not None:
        survey_detail = {
            "kind": facts.survey_kind,
            "value": facts.survey_score,
            "date": facts.survey_at.astimezone(tz).date().isoformat(),
        }
    out["survey"] = (survey_measure(facts.survey_kind, facts.survey_score), survey_detail)
    out["tickets"] = (
        tickets_measure(facts.open_tickets, facts.breached_tickets),
        {"open": facts.open_tickets, "breached": facts.breached_tickets},
    )
    if facts.contracts:
        out["purchases"] = (
            contract_measure(facts.active_contracts, facts.renewing_contracts),
            {"basis": "contract", "active": facts.active_contracts, "renewing": facts.renewing_contracts},
        )
    elif facts.last_order_at is not None:
        last_day = facts.last_order_at.astimezone(tz).date()
        days = max(0, (today - last_day).days)
        recency, frequency = recency_measure(days), frequency_measure(facts.orders_12m)
        out["purchases"] = (
            _half_up(recency + frequency, 2),
            {
                "basis": "orders",
                # The date, not "N days ago": unchanged facts give unchanged measures, and unchanged
                # rows are not rewritten by the nightly run.
                "last": last_day.isoformat(),
                "orders_12m": facts.orders_12m,
                "recency": recency,
                "frequency": frequency,
            },
        )
    else:
        out["purchases"] = (None, {})
    out["engagement"] = (
        engagement_measure(facts.emails_sent, facts.emails_engaged, facts.emails_complained),
        {"sent": facts.emails_sent, "engaged": facts.emails_engaged, "complained": facts.emails_complained}
        if facts.emails_sent
        else {},
    )
    out["manual"] = (
        manual_measure(facts.manual_rating),
        {"rating": facts.manual_rating} if facts.manual_rating is not None else {},
    )
    return out


@dataclass
class Result:
    score: int
    band: str
    components: list[dict[str, Any]] = field(default_factory=list)


def combine(measures: dict[str, tuple[int | None, dict[str, Any]]], config: HealthConfig) -> Result | None:
    """The weighted average of the measures that have data (None when none but tickets has). Each component
    says how many points it cost (``lost``: weight share × (100 − measure)) and whether it pulled
    the score down (``down``: it lost points and is itself below the green limit)."""
    weights = {name: getattr(config, WEIGHT_FIELDS[name]) for name in MEASURES}
    used = {name: s for name, (s, _detail) in measures.items() if s is not None and weights[name] > 0}
    total_weight = sum(weights[name] for name in used)
    # "No open tickets" is true of a customer we know nothing else about: alone it is no evidence of
    # health, so such a customer has no score yet rather than a green 100.
    if total_weight == 0 or set(used) <= {"tickets"}:
        return None
    score = _half_up(sum(weights[name] * s for name, s in used.items()), total_weight)
    components = []
    for name in MEASURES:
        value, detail = measures.get(name, (None, {}))
        counted = name in used
        lost = round(weights[name] * (100 - value) / total_weight, 1) if counted and value is not None else 0.0
        components.append(
            {
                "measure": name,
                "score": value,
                "weight": weights[name],
                "share": round(100 * weights[name] / total_weight, 1) if counted else 0.0,
                "lost": lost,
                "down": bool(counted and lost > 0 and value is not None and value < config.green_from),
                "detail": detail,
            }
        )
    return Result(score=score, band=band_for(score, config), components=components)


# --- computing and storing ------------------------------------------------------------------------


@dataclass
class RunStats:
    customers: int = 0
    scored: int = 0
    written: int = 0
    snapshots: int = 0
    entered_red: int = 0
    left_red: int = 0
    tasks: int = 0
    bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HealthBand.values, 0))

    def add(self, other: RunStats) -> None:
        for name in ("customers", "scored", "written", "snapshots", "entered_red", "left_red", "tasks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for band, n in other.bands.items():
            self.bands[band] += n


def _compute_scope(
    scope: Scope,
    customer_ids: Iterable[int],
    *,
    config: HealthConfig,
    now: datetime,
    ratings: dict[int, int | None] | None = None,
) -> RunStats:
    """Compute and store the scores of ``customer_ids`` (all inside ``scope``). ``ratings``
    overrides the stored manual ratings (and is then written too)."""
    stats = RunStats()
    ids = list(customer_ids)
    stats.customers = len(ids)
    if not ids:
        return stats
    tz = timezone.get_current_timezone()
    today = now.astimezone(tz).date()
    facts = collect_facts(scope, now=now)
    current = {
        row[0]: row
        for row in HealthScore.objects.filter(scope.q("customer_id")).values_list(
            "customer_id", "score", "band", "manual_rating", "components"
        )
    }
    scores: list[HealthScore] = []
    snapshots: list[HealthSnapshot] = []
    unscored: list[int] = []
    for customer_id in ids:
        f = facts.get(customer_id) or Facts()
        old = current.get(customer_id)
        rating = old[3] if old else None
        if ratings is not None and customer_id in ratings:
            rating = ratings[customer_id]
        f.manual_rating = rating
        result = combine(measure_all(f, now=now, tz=tz), config)
        if result is None:
            if old and rating is None:
                unscored.append(customer_id)
            continue
        stats.scored += 1
        stats.bands[result.band] += 1
        if old and (old[1], old[2], old[3], old[4]) == (result.score, result.band, rating, result.components):
            # Nothing moved: no write (a nightly run over an unchanged book rewrites no row, so the
            # table does not bloat by a full copy a day). computed_at says when it last changed.
            continue
        stats.written += 1
        scores.append(
            HealthScore(
                customer_id=customer_id,
                score=result.score,
                band=result.band,
                components=result.components,
                manual_rating=rating,
                computed_at=now,
            )
        )
        # A snapshot only on days the score or band moves: the trend carries the last one forward,
        # so an unchanged book adds no rows (1,000,000 customers would otherwise add 365 M a year).
        if old is None or old[1] != result.score or old[2] != result.band:
            snapshots.append(HealthSnapshot(customer_id=customer_id, day=today, score=result.score, band=result.band))

    update_fields = ["score", "band", "components", "computed_at"]
    if ratings is not None:
        update_fields.append("manual_rating")
    with transaction.atomic():
        if scores:
            HealthScore.objects.bulk_create(
                scores, update_conflicts=True, unique_fields=["customer"], update_fields=update_fields
            )
        if snapshots:
            HealthSnapshot.objects.bulk_create(
                snapshots, update_conflicts=True, unique_fields=["customer", "day"], update_fields=["score", "band"]
            )
            stats.snapshots = len(snapshots)
        if unscored:
            # Nothing to go on any more. A batch keeps a row whose rating was set meanwhile.
            gone = HealthScore.objects.filter(customer_id__in=unscored)
            if ratings is None:
                gone = gone.filter(manual_rating__isnull=True)
            gone.delete()
        stats.left_red = (
            HealthScore.objects.filter(scope.q("customer_id"), red_since__isnull=False)
            .exclude(band=HealthBand.RED)
            .update(red_since=None)
        )
        entering = list(
            HealthScore.objects.filter(scope.q("customer_id"), band=HealthBand.RED, red_since__isnull=True).values_list(
                "customer_id", flat=True
            )
        )
        if entering:
            stats.entered_red, stats.tasks = _enter_red(entering, now=now)
    return stats


def _enter_red(customer_ids: list[int], *, now: datetime) -> tuple[int, int]:
    """Claim each crossing into red (one conditional UPDATE per customer: only one run wins it) and
    give the winner's owner one task. Returns (crossings claimed, tasks created)."""
    from funnel.models import Priority, Task
    from funnel.services import task_create

    customers = {c.pk: c for c in Customer.objects.select_related("owner", "health").filter(pk__in=customer_ids)}
    claimed = tasks = 0
    for customer_id in customer_ids:
        won = HealthScore.objects.filter(customer_id=customer_id, band=HealthBand.RED, red_since__isnull=True).update(
            red_since=now
        )
        customer = customers.get(customer_id)
        if not won or customer is None:
            continue
        claimed += 1
        health = customer.health
        with translation.override(settings.LANGUAGE_CODE):
            title = _("Health score in red: %(customer)s (%(score)s)") % {
                "customer": customer.name,
                "score": health.score,
            }
            reasons = [
                f"- {MEASURE_LABELS[c['measure']]}: {c['score']} — {component_text(c)}"
                for c in pulled_down(health.components)
            ]
            notes = _("The health score fell to %(score)s. What pulled it down:\n%(reasons)s") % {
                "score": health.score,
                "reasons": "\n".join(reasons) or "—",
            }
        task_create(
            actor=None,
            customer=customer,
            title=title[:200],
            notes=notes,
            due_date=timezone.localdate(now) + timedelta(days=RED_TASK_DUE_DAYS),
            priority=Priority.HIGH,
            origin=Task.Origin.RULE,
        )
        tasks += 1
    return claimed, tasks


def health_recompute_customers(
    *, customer_ids: Iterable[int], now: datetime | None = None, config: HealthConfig | None = None
) -> RunStats:
    """Recompute the given customers (events, imports): batches of ids, a handful of queries each."""
    now = now or timezone.now()
    config = config or health_config_get()
    wanted = sorted(set(customer_ids))
    stats = RunStats()
    for start in range(0, len(wanted), BATCH_SIZE):
        chunk = wanted[start : start + BATCH_SIZE]
        existing = list(Customer.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        stats.add(_compute_scope(Scope(ids=tuple(existing)), existing, config=config, now=now))
    return stats


def health_recompute_customer(*, customer_id: int, now: datetime | None = None) -> HealthScore | None:
    """Recompute one customer (after an event or a rating); returns the stored score, if any."""
    health_recompute_customers(customer_ids=[customer_id], now=now)
    return HealthScore.objects.filter(customer_id=customer_id).first()


def health_recompute_all(
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int, RunStats], None] | None = None,
) -> RunStats:
    """Recompute the whole book in batches of consecutive ids (keyset, so no batch re-reads another).
    Each batch commits on its own: a run stopped half-way has stored the finished batches, and
    running it again (or twice at once) stores the same figures and creates no second task."""
    now = now or timezone.now()
    config = health_config_get()
    total = Customer.objects.count()
    stats = RunStats()
    last = 0
    while True:
        ids = list(Customer.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        stats.add(_compute_scope(Scope(lo=ids[0], hi=ids[-1]), ids, config=config, now=now))
        last = ids[-1]
        if progress is not None:
            progress(stats.customers, total, stats)
    return stats


@transaction.atomic
def health_rating_set(*, actor: Any, customer: Customer, rating: int | None) -> HealthScore | None:
    """The CS owner's (or a manager's) 1–5 rating of the customer, or None to clear it; the score is
    recomputed at once so the page shows its effect."""
    if actor is not None and not roles.can_edit_customer(actor, customer):
        raise PermissionDenied(_("Only the customer's owner or a CS manager can rate this customer."))
    if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5):
        raise ValidationError({"rating": [_("Choose a rating from 1 to 5, or none.")]})
    now = timezone.now()
    scope = Scope(ids=(customer.pk,))
    _compute_scope(scope, [customer.pk], config=health_config_get(), now=now, ratings={customer.pk: rating})
    return HealthScore.objects.filter(customer_id=customer.pk).first()


# --- selectors ------------------------------------------------------------------------------------


def pulled_down(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The measures that pulled the score down, the costliest first."""
    return sorted((c for c in components if c.get("down")), key=lambda c: (-c.get("lost", 0), c["measure"]))


def component_text(component: dict[str, Any]) -> str:
    """What a measure's figure is made of, in the active language."""
    detail = component.get("detail") or {}
    name = component.get("measure")
    if component.get("score") is None:
        return str(_("No data — left out of the score."))
    if name == "survey":
        label = "NPS" if detail.get("kind") == "nps" else "CSAT"
        day = date.fromisoformat(detail["date"]) if detail.get("date") else None
        return _("%(kind)s %(value)s on %(date)s") % {
            "kind": label,
            "value": detail.get("value"),
            "date": date_format(day, "SHORT_DATE_FORMAT") if day else "—",
        }
    if name == "tickets":
        if not detail.get("open"):
            return str(_("No open tickets"))
        return _("%(open)s open, %(breached)s past the SLA") % {
            "open": detail.get("open", 0),
            "breached": detail.get("breached", 0),
        }
    if name == "purchases":
        if detail.get("basis") == "contract":
            if not detail.get("active"):
                return str(_("No active contract"))
            if not detail.get("renewing"):
                return str(_("Active contract ends within 60 days without auto-renewal"))
            return str(_("Active contract"))
        last = date.fromisoformat(detail["last"]) if detail.get("last") else None
        return _("Last paid order on %(date)s; %(orders)s in 12 months") % {
            "date": date_format(last, "SHORT_DATE_FORMAT") if last else "—",
            "orders": detail.get("orders_12m"),
        }
    if name == "engagement":
        if detail.get("complained"):
            return str(_("Marked an e-mail as spam"))
        return _("Opened %(engaged)s of %(sent)s e-mails in 90 days") % {
            "engaged": detail.get("engaged", 0),
            "sent": detail.get("sent", 0),
        }
    if name == "manual":
        return _("Rated %(rating)s of 5 by the owner") % {"rating": detail.get("rating")}
    return ""


def health_score_list(
    *,
    band: str = "",
    owner: Any = None,
    segment: int | None = None,
    max_score: int | None = None,
) -> QuerySet[HealthScore]:
    """Scores with their customer and owner, the lowest first (the at-risk list)."""
    qs = HealthScore.objects.select_related("customer__owner", "customer__segment")
    if band:
        qs = qs.filter(band=band)
    if owner == "none":
        qs = qs.filter(customer__owner__isnull=True)
    elif owner:
        qs = qs.filter(customer__owner_id=owner)
    if segment:
        qs = qs.filter(customer__segment_id=segment)
    if max_score is not None:
        qs = qs.filter(score__lte=max_score)
    return qs.order_by("score", "customer_id")


def health_band_counts(*, owner: Any = None, segment: int | None = None) -> dict[str, int]:
    qs = HealthScore.objects.all()
    if segment:
        qs = qs.filter(customer__segment_id=segment)
    if owner == "none":
        qs = qs.filter(customer__owner__isnull=True)
    elif owner:
        qs = qs.filter(customer__owner_id=owner)
    counts = dict.fromkeys(HealthBand.values, 0)
    counts.update(dict(qs.order_by().values_list("band").annotate(n=Count("pk")).values_list("band", "n")))
    return counts


def health_trend(*, customer_id: int, days: int = TREND_DAYS, today: date | None = None) -> list[tuple[date, int]]:
    """One (day, score) per day of the last ``days`` days, from the first scored day on: the latest
    snapshot on or before each day (snapshots are written only when the score changes)."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = list(
        HealthSnapshot.objects.filter(customer_id=customer_id, day__lte=today)
        .filter(Q(day__gte=start) | Q(pk__in=_latest_before(customer_id, start)))
        .order_by("day")
        .values_list("day", "score")
    )
    points: list[tuple[date, int]] = []
    index, current = 0, None
    day = start
    while day <= today:
        while index < len(rows) and rows[index][0] <= day:
            current = rows[index][1]
            index += 1
        if current is not None:
            points.append((day, current))
        day += timedelta(days=1)
    return points


def _latest_before(customer_id: int, start: date) -> QuerySet[HealthSnapshot]:
    return HealthSnapshot.objects.filter(customer_id=customer_id, day__lt=start).order_by("-day").values("pk")[:1]
