"""Campaigns: audiences (saved customer filters), campaigns and their fan-out. Services and selectors.

Exactly-once rules (docs/funnel.md, "Campaigns"):
- A campaign starts once: ``UPDATE … SET status='sending' WHERE id=… AND status IN (draft|scheduled)``
  must touch one row; the same transaction freezes the audience into ``CampaignBatch`` rows (the
  outbox) and enqueues one task per batch after commit.
- A batch is claimed with ``UPDATE … SET status='running', attempts=attempts+1 WHERE status='pending'``
  and queues every message in one transaction through ``messaging.services.message_queue`` with
  the key ``campaign:<id>:customer:<id>``, so a retried or duplicated batch sends nothing twice. The
  batch is marked done only if ``attempts`` is still the value of its own claim (a fencing token):
  a stale run that lost its claim rolls back instead of counting twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Order, Segment, Tag
from messaging.conf import setting
from messaging.models import Message, MessageEvent, MessageTemplate
from posvenda import roles
from surveys.models import Category
from surveys.selectors import latest_nps_category_subquery

from .models import Audience, Campaign, CampaignBatch, Stage

log = logging.getLogger(__name__)

Status = Campaign.Status
BatchStatus = CampaignBatch.Status

MAX_BATCH_ATTEMPTS = 3
# A pending batch whose task was handed to the broker this long ago is handed over again
# (Redis was down, or the task was lost); a running one this old belongs to a dead worker.
BATCH_REQUEUE_AFTER = timedelta(minutes=5)
BATCH_STALE_AFTER = timedelta(minutes=15)

FILTER_KEYS = (
    "stages",
    "segments",
    "tags",
    "kind",
    "owner",
    "last_purchase_before_days",
    "last_purchase_within_days",
    "tenure_min_days",
    "nps_categories",
)
DAY_KEYS = ("last_purchase_before_days", "last_purchase_within_days", "tenure_min_days")
# The latest NPS answer's category (docs/metrics.md): promoter 9–10, passive 7–8, detractor 0–6.
NPS_CATEGORIES = (Category.PROMOTER, Category.PASSIVE, Category.DETRACTOR)


def batch_size() -> int:
    return max(1, int(setting("FUNNEL_CAMPAIGN_BATCH_SIZE", 1000)))


def _require_manager(actor: Any) -> None:
    roles.require_manager(actor, _("Only a CS manager can change campaigns."))


# --- audiences ---------------------------------------------------------------------------------


def _int_list(value: Any) -> list[int] | None:
    if value in (None, "", []):
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    try:
        return sorted({int(v) for v in value})
    except (TypeError, ValueError):
        return None


def audience_filters_clean(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check and normalise an audience's filters; empty values are dropped.

    Raises ValidationError with one message per offending key.
    """
    filters = dict(filters or {})
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        errors["__all__"] = [_("Unknown filter: %(keys)s.") % {"keys": ", ".join(unknown)}]

    stages = filters.get("stages") or []
    if isinstance(stages, str):
        stages = [stages]
    bad = [s for s in stages if s not in Stage.values]
    if bad:
        errors["stages"] = [_("Unknown stage: %(stages)s.") % {"stages": ", ".join(map(str, bad))}]
    elif stages:
        clean["stages"] = sorted(set(stages))

    for key, model, label in (("segments", Segment, _("segment")), ("tags", Tag, _("tag"))):
        ids = _int_list(filters.get(key))
        if ids is None:
            errors[key] = [_("Choose each %(what)s from the list.") % {"what": label}]
        elif ids:
            missing = set(ids) - set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
            if missing:
                errors[key] = [_("This %(what)s no longer exists; choose another.") % {"what": label}]
            else:
                clean[key] = ids

    kind = filters.get("kind") or ""
    if kind and kind not in Customer.Kind.values:
        errors["kind"] = [_("Choose B2B or B2C.")]
    elif kind:
        clean["kind"] = kind

    owner = filters.get("owner")
    if owner not in (None, ""):
        if owner == "none":
            clean["owner"] = "none"
        else:
            try:
                clean["owner"] = int(owner)
            except (TypeError, ValueError):
                errors["owner"] = [_("Choose an owner from the list.")]

    for key in DAY_KEYS:
        raw = filters.get(key)
        if raw in (None, ""):
            continue
        try:
            days = int(raw)
        except (TypeError, ValueError):
            errors[key] = [_("Enter a whole number of days.")]
            continue
        if days < 1 or days > 36500:
            errors[key] = [_("Enter a number of days between 1 and 36500.")]
        else:
            clean[key] = days
    before, within = clean.get("last_purchase_before_days"), clean.get("last_purchase_within_days")
    if before and within and within <= before:
        errors["last_purchase_within_days"] = [
            _(
                "A last purchase cannot be both more than %(before)s days ago and within the last %(within)s days; "
                "make this number larger than %(before)s."
            )
            % {"before": before, "within": within}
        ]

    categories = filters.get("nps_categories") or []
    if isinstance(categories, str):
        categories = [categories]
    if not isinstance(categories, list | tuple):
        errors["nps_categories"] = [_("Choose NPS categories from the list.")]
    else:
        bad = [c for c in categories if c not in NPS_CATEGORIES]
        if bad:
            errors["nps_categories"] = [
                _("Unknown NPS category: %(values)s. Choose promoter, passive or detractor.")
                % {"values": ", ".join(map(str, bad))}
            ]
        elif categories:
            clean["nps_categories"] = sorted(set(categories))

    if errors:
        raise ValidationError(errors)
    return clean


def audience_customers(*, filters: Mapping[str, Any] | None, now: datetime | None = None) -> QuerySet[Customer]:
    """The customers an audience's filters select today, ordered by id (one SQL query, no joins that
    could repeat a customer)."""
    clean = audience_filters_clean(filters)
    now = now or timezone.now()
    qs = Customer.objects.all()
    if clean.get("stages"):
        qs = qs.filter(stage__in=clean["stages"])
    if clean.get("segments"):
        qs = qs.filter(segment_id__in=clean["segments"])
    if clean.get("tags"):
        tagged = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"), tag_id__in=clean["tags"])
        qs = qs.filter(Exists(tagged))
    if clean.get("kind"):
        qs = qs.filter(kind=clean["kind"])
    if clean.get("owner") == "none":
        qs = qs.filter(owner__isnull=True)
    elif clean.get("owner"):
        qs = qs.filter(owner_id=clean["owner"])
    paid = Order.objects.filter(customer_id=OuterRef("pk"), status=Order.Status.PAID)
    if clean.get("last_purchase_before_days"):
        cutoff = now - timedelta(days=clean["last_purchase_before_days"])
        qs = qs.filter(Exists(paid)).exclude(Exists(paid.filter(purchased_at__gte=cutoff)))
    if clean.get("last_purchase_within_days"):
        cutoff = now - timedelta(days=clean["last_purchase_within_days"])
        qs = qs.filter(Exists(paid.filter(purchased_at__gte=cutoff)))
    if clean.get("tenure_min_days"):
        qs = qs.filter(created_at__lte=now - timedelta(days=clean["tenure_min_days"]))
    if clean.get("nps_categories"):
        # The category of the customer's latest NPS answer (a correlated sub-query on the
        # customer/kind/answered_at index): someone who was a detractor and now answers 10 is a promoter.
        qs = qs.alias(latest_nps_category=latest_nps_category_subquery()).filter(
            latest_nps_category__in=clean["nps_categories"]
        )
    return qs.order_by("pk")


def audience_size(*, filters: Mapping[str, Any] | None) -> int:
    return audience_customers(filters=filters).count()


def audience_list() -> QuerySet[Audience]:
    return Audience.objects.select_related("created_by").annotate(campaign_count=Count("campaigns")).order_by("name")


@transaction.atomic
def audience_save(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    filters: Mapping[str, Any] | None,
    audience: Audience | None = None,
) -> Audience:
    _require_manager(actor)
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    try:
        clean = audience_filters_clean(filters)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        clean = {}
    if not name:
        errors["name"] = [_("Give the audience a name.")]
    elif Audience.objects.filter(name__iexact=name).exclude(pk=getattr(audience, "pk", None)).exists():
        errors["name"] = [_("An audience with this name already exists.")]
    if errors:
        raise ValidationError(errors)
    if audience is None:
        audience = Audience(created_by=actor if getattr(actor, "is_authenticated", False) else None)
    audience.name, audience.filters = name, clean
    audience.save()
    return audience


# --- campaigns: reads --------------------------------------------------------------------------


def campaign_list(*, status: str = "", search: str = "") -> QuerySet[Campaign]:
    qs = Campaign.objects.select_related("template", "audience", "created_by")
    if status:
        qs = qs.filter(status=status)
    search = (search or "").strip()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(template__name__icontains=search))
    return qs.order_by("-created_at", "-id")


def campaign_get(*, pk: int) -> Campaign:
    return Campaign.objects.select_related("template", "audience", "created_by").get(pk=pk)


SENT_STATUSES = (
    Message.Status.SENT,
    Message.Status.DELIVERED,
    Message.Status.OPENED,
    Message.Status.CLICKED,
    Message.Status.BOUNCED,
    Message.Status.COMPLAINED,
)


@dataclass
class CampaignResults:
    messages: int = 0
    in_flight: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    blocked: int = 0
    failed: int = 0

    def rate(self, value: int) -> int:
        """Percentage of the messages sent (0 when nothing was sent)."""
        return round(value * 100 / self.sent) if self.sent else 0

    @property
    def delivered_rate(self) -> int:
        return self.rate(self.delivered)

    @property
    def opened_rate(self) -> int:
        return self.rate(self.opened)

    @property
    def clicked_rate(self) -> int:
        return self.rate(self.clicked)

    @property
    def bounced_rate(self) -> int:
        return self.rate(self.bounced)

    @property
    def unsubscribed_rate(self) -> int:
        return self.rate(self.unsubscribed)

    @property
    def handed_over(self) -> int:
        """Messages that left the queue: sent or failed."""
        return self.sent + self.failed


def campaign_results(*, campaign: Campaign) -> CampaignResults:
    """Counts from the campaign's Message rows, in one aggregate query.

    Engagement is cumulative: an opened message was delivered, a clicked one was opened.
    "Unsubscribed" counts spam complaints and unsubscribes the provider reported for a message.
    """
    S = Message.Status
    unsubscribed_event = MessageEvent.objects.filter(
        message_id=OuterRef("pk"), event_type=MessageEvent.Type.UNSUBSCRIBED
    )
    agg = Message.objects.filter(source=campaign.source).aggregate(
        messages=Count("id"),
        in_flight=Count("id", filter=Q(status__in=(S.QUEUED, S.SENDING))),
        sent=Count("id", filter=Q(status__in=SENT_STATUSES)),
        delivered=Count("id", filter=Q(status__in=(S.DELIVERED, S.OPENED, S.CLICKED))),
        opened=Count("id", filter=Q(status__in=(S.OPENED, S.CLICKED))),
        clicked=Count("id", filter=Q(status=S.CLICKED)),
        bounced=Count("id", filter=Q(status=S.BOUNCED)),
        unsubscribed=Count("id", filter=Q(status=S.COMPLAINED) | Q(Exists(unsubscribed_event))),
        blocked=Count("id", filter=Q(status=S.BLOCKED)),
        failed=Count("id", filter=Q(status=S.FAILED)),
    )
    return CampaignResults(**agg)


def campaign_failed_batches(*, campaign: Campaign) -> int:
    return CampaignBatch.objects.filter(campaign=campaign, status=BatchStatus.FAILED).count()


# --- campaigns: writes -------------------------------------------------------------------------


def _clean_campaign(
    *, name: str, template: MessageTemplate | None, audience: Audience | None, scheduled_at: datetime | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the campaign a name.")]
    if template is None:
        errors["template"] = [_("Choose the message template to send.")]
    elif not template.is_active:
        errors["template"] = [_("This template is inactive; activate it or choose another.")]
    else:
        from messaging.services import template_validate

        for suffix in ("pt_br", "en"):
            try:
                template_validate(
                    subject=getattr(template, f"subject_{suffix}"), body=getattr(template, f"body_{suffix}")
                )
            except ValidationError as exc:
                errors["template"] = [
                    _("The template cannot be rendered: %(error)s") % {"error": "; ".join(exc.messages)}
                ]
                break
    if audience is None:
        errors["audience"] = [_("Choose who receives the campaign.")]
    return errors


@transaction.atomic
def campaign_save(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    template: MessageTemplate | None,
    audience: Audience | None,
    scheduled_at: datetime | None = None,
    campaign: Campaign | None = None,
) -> Campaign:
    """Create a draft, or change a draft or scheduled campaign (a scheduled one keeps its status)."""
    _require_manager(actor)
    errors = _clean_campaign(name=name, template=template, audience=audience, scheduled_at=scheduled_at)
    if campaign is not None:
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not campaign.is_editable:
            raise ValidationError(
                _("This campaign is %(status)s and can no longer be changed.")
                % {"status": campaign.get_status_display().lower()}
            )
        if campaign.status == Status.SCHEDULED and scheduled_at is None:
            errors["scheduled_at"] = [_("A scheduled campaign needs a date and time; use “Send now” to send it now.")]
    if errors:
        raise ValidationError(errors)
    if campaign is None:
        campaign = Campaign(created_by=actor if getattr(actor, "is_authenticated", False) else None)
    campaign.name, campaign.template, campaign.audience = name.strip(), template, audience
    campaign.scheduled_at = scheduled_at
    campaign.save()
    return campaign


def _enqueue_batches_on_commit(batch_ids: list[int]) -> None:
    def enqueue() -> None:
        from . import tasks

        for batch_id in batch_ids:
            try:
                tasks.campaign_send_batch.delay(batch_id)
            except Exception:  # the batch row is the outbox: the beat re-enqueues it
                log.warning("Broker unavailable; campaign batch %s will be picked up by the beat.", batch_id)
                return

    transaction.on_commit(enqueue)


def _start_claimed(campaign_id: int, now: datetime) -> int:
    """Freeze the audience of a campaign this caller just claimed into batches; returns the batch count."""
    campaign = Campaign.objects.select_related("audience").get(pk=campaign_id)
    ids = list(audience_customers(filters=campaign.audience.filters, now=now).values_list("pk", flat=True))
    size = batch_size()
    batches = CampaignBatch.objects.bulk_create(
        CampaignBatch(campaign_id=campaign_id, number=n + 1, customer_ids=ids[i : i + size], enqueued_at=now)
        for n, i in enumerate(range(0, len(ids), size))
    )
    fields: dict[str, Any] = {"total_count": len(ids), "updated_at": now}
    if not ids:
        fields.update(status=Status.DONE, finished_at=now)
    Campaign.objects.filter(pk=campaign_id).update(**fields)
    _enqueue_batches_on_commit([b.pk for b in batches])
    return len(batches)


def campaign_start(*, campaign_id: int, from_statuses: tuple[str, ...], now: datetime | None = None) -> bool:
    """Start a campaign once: True only for the caller whose conditional UPDATE claimed it."""
    now = now or timezone.now()
    with transaction.atomic():
        qs = Campaign.objects.filter(pk=campaign_id, status__in=from_statuses)
        if from_statuses == (Status.SCHEDULED,):
            qs = qs.filter(scheduled_at__lte=now)
        if qs.update(status=Status.SENDING, started_at=now, updated_at=now) != 1:
            return False
        _start_claimed(campaign_id, now)
    return True


def campaign_send(*, actor: AbstractBaseUser | None, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """ "Send": start now when no time (or a past one) is set, else schedule for ``scheduled_at``."""
    _require_manager(actor)
    now = now or timezone.now()
    campaign.refresh_from_db()
    if not campaign.is_editable:
        raise ValidationError(
            _("This campaign is %(status)s; it cannot be sent again.")
            % {"status": campaign.get_status_display().lower()}
        )
    errors = _clean_campaign(
        name=campaign.name, template=campaign.template, audience=campaign.audience, scheduled_at=campaign.scheduled_at
    )
    if errors:
        raise ValidationError(errors)
    if campaign.scheduled_at is not None and campaign.scheduled_at > now:
        Campaign.objects.filter(pk=campaign.pk, status=Status.DRAFT).update(status=Status.SCHEDULED, updated_at=now)
    elif not campaign_start(campaign_id=campaign.pk, from_statuses=(Status.DRAFT, Status.SCHEDULED), now=now):
        raise ValidationError(_("This campaign was already started."))
    campaign.refresh_from_db()
    return campaign


def campaign_cancel(*, actor: AbstractBaseUser | None, campaign: Campaign) -> Campaign:
    """Cancel a draft or scheduled campaign; one already sending goes on."""
    _require_manager(actor)
    now = timezone.now()
    cancelled = Campaign.objects.filter(pk=campaign.pk, status__in=(Status.DRAFT, Status.SCHEDULED)).update(
        status=Status.CANCELLED, cancelled_at=now, updated_at=now
    )
    campaign.refresh_from_db()
    if not cancelled:
        raise ValidationError(
            _("This campaign is %(status)s; only a draft or scheduled campaign can be cancelled.")
            % {"status": campaign.get_status_display().lower()}
        )
    return campaign


def _campaign_finish_if_complete(campaign_id: int, now: datetime) -> bool:
    unfinished = CampaignBatch.objects.filter(
        campaign_id=OuterRef("pk"), status__in=(BatchStatus.PENDING, BatchStatus.RUNNING)
    )
    return (
        Campaign.objects.filter(pk=campaign_id, status=Status.SENDING)
        .exclude(Exists(unfinished))
        .update(status=Status.DONE, finished_at=now, updated_at=now)
        == 1
    )


def campaign_batch_run(*, batch_id: int) -> bool:
    """Queue the messages of one batch; True when this call did the work (False: claimed elsewhere)."""
    from messaging.services import message_queue, messages_hand_off_on_commit

    now = timezone.now()
    claimed = CampaignBatch.objects.filter(pk=batch_id, status=BatchStatus.PENDING).update(
        status=BatchStatus.RUNNING, attempts=F("attempts") + 1, started_at=now
    )
    if claimed != 1:
        return False
    batch = CampaignBatch.objects.only("id", "campaign_id", "customer_ids", "attempts").get(pk=batch_id)
    try:
        with transaction.atomic():
            campaign = Campaign.objects.select_related("template", "created_by").get(pk=batch.campaign_id)
            queued = blocked = 0
            to_deliver: list[int] = []
            customers = Customer.objects.filter(pk__in=batch.customer_ids).select_related("owner").order_by("pk")
            for customer in customers:
                message = message_queue(
                    customer=customer,
                    idempotency_key=f"campaign:{campaign.pk}:customer:{customer.pk}",
                    template=campaign.template,
                    automated=True,
                    created_by=campaign.created_by,
                    source=campaign.source,
                    hand_off=False,
                )
                if message.status == Message.Status.BLOCKED:
                    blocked += 1
                else:
                    queued += 1
                    if message.status == Message.Status.QUEUED:
                        to_deliver.append(message.pk)
            finished = timezone.now()
            # Fencing: only the run holding the latest claim may finish the batch and count it.
            fenced = CampaignBatch.objects.filter(
                pk=batch_id, status=BatchStatus.RUNNING, attempts=batch.attempts
            ).update(status=BatchStatus.DONE, finished_at=finished, error="")
            if fenced != 1:
                raise _LostClaim
            # The row lock serialises the batches of one campaign, so the last one sees all others done.
            Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk", flat=True).first()
            Campaign.objects.filter(pk=campaign.pk).update(
                processed_count=F("processed_count") + len(batch.customer_ids),
                queued_count=F("queued_count") + queued,
                blocked_count=F("blocked_count") + blocked,
                updated_at=finished,
            )
            _campaign_finish_if_complete(campaign.pk, finished)
            # One delivery task per MESSAGING_DELIVER_TASK_SIZE messages, after this batch commits.
            messages_hand_off_on_commit(to_deliver)
        return True
    except _LostClaim:
        log.info("Campaign batch %s was finished by another run; this run rolled back.", batch_id)
        return False
    except Exception as exc:
        log.exception("Campaign batch %s failed", batch_id)
        failed = batch.attempts >= MAX_BATCH_ATTEMPTS
        with transaction.atomic():
            released = CampaignBatch.objects.filter(
                pk=batch_id, status=BatchStatus.RUNNING, attempts=batch.attempts
            ).update(
                status=BatchStatus.FAILED if failed else BatchStatus.PENDING,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                finished_at=timezone.now() if failed else None,
                # Back to pending with an old hand-off time: the beat retries it after BATCH_REQUEUE_AFTER.
                enqueued_at=timezone.now(),
            )
            if released and failed:
                _campaign_finish_if_complete(batch.campaign_id, timezone.now())
        return False


class _LostClaim(Exception):
    pass


def campaigns_start_due(*, now: datetime | None = None) -> int:
    """Every-minute beat: start the scheduled campaigns that are due (each once, even with two beats),
    hand lost or stale batches to the workers again, and close campaigns whose batches all ended."""
    from . import tasks

    now = now or timezone.now()
    started = 0
    due = Campaign.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now).order_by("scheduled_at", "id")
    for campaign_id in list(due.values_list("pk", flat=True)[:100]):
        started += campaign_start(campaign_id=campaign_id, from_statuses=(Status.SCHEDULED,), now=now)

    CampaignBatch.objects.filter(status=BatchStatus.RUNNING, started_at__lt=now - BATCH_STALE_AFTER).update(
        status=BatchStatus.PENDING, enqueued_at=None
    )
    with transaction.atomic():
        lost = list(
            CampaignBatch.objects.filter(status=BatchStatus.PENDING)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - BATCH_REQUEUE_AFTER))
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:500]
        )
        if lost:
            CampaignBatch.objects.filter(pk__in=lost).update(enqueued_at=now)
    for batch_id in lost:
        tasks.campaign_send_batch.delay(batch_id)

    for campaign_id in Campaign.objects.filter(status=Status.SENDING).values_list("pk", flat=True):
        _campaign_finish_if_complete(campaign_id, now)
    return started
