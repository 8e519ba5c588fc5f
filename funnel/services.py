"""Every write of the funnel: stage moves, transition rules, playbook scheduling and runs, CS tasks.

Precedence between people and rules (docs/funnel.md): a move by a CS user is always applied and
logged; a rule never moves a customer whose latest stage change is manual and happened at or after
the moment that rule's condition became true (its triggering event).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import Contract, Customer, Order, Segment
from posvenda import events, roles

from .models import DigestLog, Playbook, PlaybookStep, Priority, Stage, StageChange, StepRun, Task, TransitionRule

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=5)
# A run still "running" after this long belongs to a dead worker; it is safe to retry because the
# message is idempotent by key and the task is unique per run.
STALE_RUNNING_AFTER = timedelta(minutes=15)


def _is_user(actor: Any) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def latest_stage_change(*, customer_id: int) -> StageChange | None:
    return StageChange.objects.filter(customer_id=customer_id).order_by("-changed_at", "-id").first()


# --- stages ------------------------------------------------------------------------------------


def playbook_for(*, stage: str, segment_id: int | None) -> Playbook | None:
    """The active playbook for a stage: the segment's own one when it has one, else the default."""
    qs = Playbook.objects.filter(stage=stage, active=True)
    if segment_id:
        qs = qs.filter(Q(segment_id=segment_id) | Q(segment__isnull=True))
    else:
        qs = qs.filter(segment__isnull=True)
    return qs.order_by(F("segment_id").asc(nulls_last=True)).first()


def _schedule_playbook(*, change: StageChange, segment_id: int | None) -> int:
    playbook = playbook_for(stage=change.to_stage, segment_id=segment_id)
    if playbook is None:
        return 0
    runs = [
        StepRun(
            customer_id=change.customer_id,
            step=step,
            stage_change=change,
            due_at=change.changed_at + timedelta(days=step.day_offset),
        )
        for step in playbook.steps.all()
    ]
    StepRun.objects.bulk_create(runs, ignore_conflicts=True)
    return len(runs)


def _lock_customer(customer_id: int) -> Customer | None:
    return (
        Customer.objects.select_for_update()
        .only("id", "stage", "segment_id", "owner_id")
        .filter(pk=customer_id)
        .first()
    )


def _move_locked(
    *,
    locked: Customer,
    to_stage: str,
    actor: AbstractBaseUser | None,
    rule: TransitionRule | None,
    reason: str,
    changed_at: datetime | None = None,
) -> StageChange:
    now = changed_at or timezone.now()
    from_stage = locked.stage
    Customer.objects.filter(pk=locked.pk).update(stage=to_stage, updated_at=timezone.now())
    if _is_user(actor):
        source = StageChange.Source.MANUAL
    elif rule is not None:
        source = StageChange.Source.RULE
    else:
        source = StageChange.Source.SYSTEM
    change = StageChange.objects.create(
        customer_id=locked.pk,
        from_stage=from_stage,
        to_stage=to_stage,
        changed_at=now,
        changed_by=actor if _is_user(actor) else None,
        rule=rule,
        source=source,
        reason=reason,
    )
    # The old stage's steps stop here; a run already claimed re-checks the stage change itself.
    StepRun.objects.filter(customer_id=locked.pk, status=StepRun.Status.PENDING).update(
        status=StepRun.Status.CANCELLED, finished_at=timezone.now(), detail="customer left the stage"
    )
    _schedule_playbook(change=change, segment_id=locked.segment_id)
    events.emit(
        events.STAGE_CHANGED,
        customer_id=locked.pk,
        stage_change_id=change.pk,
        from_stage=from_stage,
        to_stage=to_stage,
    )
    return change


@transaction.atomic
def stage_move(
    *,
    customer: Customer,
    to_stage: str,
    reason: str,
    actor: AbstractBaseUser | None = None,
    rule: TransitionRule | None = None,
    changed_at: datetime | None = None,
) -> StageChange:
    """Move a customer to another stage: the only writer of Customer.stage.

    Locks the customer row, records the StageChange, cancels the pending steps of the stage being
    left, schedules the new stage's playbook and emits ``stage_changed``. A CS user (``actor``)
    may move only the customers they can work on, and must give a reason.
    """
    reason = (reason or "").strip()
    if to_stage not in Stage.values:
        raise ValidationError({"to_stage": [_("Choose a valid stage.")]})
    locked = _lock_customer(customer.pk)
    if locked is None:
        raise ValidationError({"customer": [_("This customer no longer exists.")]})
    if _is_user(actor):
        if not roles.can_edit_customer(actor, locked):
            raise PermissionDenied(_("You can only move the customers you own."))
        if not reason:
            raise ValidationError({"reason": [_("Say why the customer is moving; it goes to the stage history.")]})
    if locked.stage == to_stage:
        raise ValidationError({"to_stage": [_("The customer is already in this stage.")]})
    change = _move_locked(
        locked=locked, to_stage=to_stage, actor=actor, rule=rule, reason=reason, changed_at=changed_at
    )
    customer.stage = to_stage
    return change


@transaction.atomic
def stage_enter_initial(*, customer_id: int) -> StageChange | None:
    """Record a new customer's entry in its first stage and schedule that stage's playbook (once)."""
    locked = _lock_customer(customer_id)
    if locked is None or StageChange.objects.filter(customer_id=customer_id).exists():
        return None
    created_at = Customer.objects.filter(pk=customer_id).values_list("created_at", flat=True).first()
    change = StageChange.objects.create(
        customer_id=customer_id,
        from_stage="",
        to_stage=locked.stage,
        changed_at=created_at or timezone.now(),
        source=StageChange.Source.SYSTEM,
    )
    _schedule_playbook(change=change, segment_id=locked.segment_id)
    events.emit(
        events.STAGE_CHANGED, customer_id=customer_id, stage_change_id=change.pk, from_stage="", to_stage=locked.stage
    )
    return change


def stage_history_record_initial(*, customer_ids: Iterable[int] | None = None) -> int:
    """Record the current stage as the entry point of customers that have no stage history yet.

    For customers that arrive in bulk (a CSV import of an existing base, the demo data, customers
    from before the funnel existed). Unlike stage_enter_initial it schedules no playbook: a welcome
    sequence is for a customer who just bought, not for a base being migrated. Running it again
    records nothing more. One INSERT … SELECT, so an import chunk of 5,000 customers costs one
    statement and no Python objects.
    """
    pending = Customer.objects.filter(~Exists(StageChange.objects.filter(customer_id=OuterRef("pk"))))
    if customer_ids is not None:
        pending = pending.filter(pk__in=list(customer_ids))
    reason = _("Stage recorded when the customer's funnel history started (bulk load).")
    rows = pending.annotate(
        _customer_id=F("pk"),
        _from_stage=Value(""),
        _to_stage=F("stage"),
        _changed_at=F("created_at"),
        _source=Value(StageChange.Source.SYSTEM.value),
        _reason=Value(str(reason)),
    ).values_list("_customer_id", "_from_stage", "_to_stage", "_changed_at", "_source", "_reason")
    select_sql, params = rows.query.sql_with_params()
    table = connection.ops.quote_name(StageChange._meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(StageChange._meta.get_field(name).column)
        for name in ("customer", "from_stage", "to_stage", "changed_at", "source", "reason")
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {select_sql}", params)  # noqa: S608 (names from the model)
        return cursor.rowcount


# --- transition rules --------------------------------------------------------------------------


def _enabled_rule(kind: str) -> TransitionRule | None:
    return TransitionRule.objects.filter(kind=kind, enabled=True).first()


def _rule_move(*, rule: TransitionRule, customer_id: int, trigger_at: datetime, reason: str) -> StageChange | None:
    """Apply ``rule`` to one customer unless a person moved them at or after ``trigger_at``.

    Runs under the customer's row lock and re-checks the stage, so two evaluations racing (two
    beat processes, an event and the hourly pass) move the customer once.
    """
    with transaction.atomic():
        locked = _lock_customer(customer_id)
        if locked is None or locked.stage not in rule.from_stages or locked.stage == rule.to_stage:
            return None
        latest = latest_stage_change(customer_id=customer_id)
        if latest is not None and latest.is_manual and latest.changed_at >= trigger_at:
            return None
        return _move_locked(locked=locked, to_stage=rule.to_stage, actor=None, rule=rule, reason=reason)


def rule_upsell_on_order(*, order_id: int) -> StageChange | None:
    """A paid order from a customer who already had a paid order is an upsell."""
    rule = _enabled_rule(TransitionRule.Kind.UPSELL)
    order = Order.objects.filter(pk=order_id, status=Order.Status.PAID).first()
    if rule is None or order is None:
        return None
    had_paid_before = (
        Order.objects.filter(
            customer_id=order.customer_id, status=Order.Status.PAID, purchased_at__lte=order.purchased_at
        )
        .exclude(pk=order.pk)
        .exists()
    )
    if not had_paid_before:
        return None
    reason = _("Upsell: order %(order)s") % {"order": order}
    return _rule_move(rule=rule, customer_id=order.customer_id, trigger_at=order.purchased_at, reason=reason)


def rule_upsell_on_plan(
    *, customer_id: int, old_mrr: Decimal, new_mrr: Decimal, occurred_at: datetime | None = None
) -> StageChange | None:
    """An MRR increase on the customer or one of its contracts is a plan upgrade."""
    rule = _enabled_rule(TransitionRule.Kind.UPSELL)
    if rule is None or Decimal(new_mrr) <= Decimal(old_mrr):
        return None
    reason = _("Plan upgrade: MRR %(old)s → %(new)s") % {"old": old_mrr, "new": new_mrr}
    return _rule_move(rule=rule, customer_id=customer_id, trigger_at=occurred_at or timezone.now(), reason=reason)


def rule_contracts_cancelled(*, customer_id: int) -> StageChange | None:
    """Churn when the customer has contracts, none active, and at least one was cancelled."""
    rule = _enabled_rule(TransitionRule.Kind.CONTRACT_CANCELLED)
    if rule is None:
        return None
    cancelled = Q(status=Contract.Status.CANCELLED)
    agg = Contract.objects.filter(customer_id=customer_id).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status=Contract.Status.ACTIVE)),
        cancelled=Count("id", filter=cancelled),
        last=Max("updated_at", filter=cancelled),
    )
    if not agg["total"] or agg["active"] or not agg["cancelled"]:
        return None
    return _rule_move(rule=rule, customer_id=customer_id, trigger_at=agg["last"], reason=_("All contracts cancelled"))


def customer_promoted(customer: Customer, reason: str, *, occurred_at: datetime | None = None) -> StageChange | None:
    """A promoter answer or a successful referral (surveys and loyalty call this)."""
    rule = _enabled_rule(TransitionRule.Kind.PROMOTER)
    if rule is None:
        return None
    return _rule_move(
        rule=rule, customer_id=customer.pk, trigger_at=occurred_at or timezone.now(), reason=(reason or "").strip()
    )


def _time_rule_candidates(rule: TransitionRule, now: datetime) -> Iterator[tuple[int, datetime]]:
    days = timedelta(days=rule.days or 0)
    base = Customer.objects.filter(stage__in=rule.from_stages).exclude(stage=rule.to_stage)
    if rule.kind == TransitionRule.Kind.ADOPTION_DAYS:
        entered = (
            StageChange.objects.filter(customer=OuterRef("pk")).order_by("-changed_at", "-id").values("changed_at")
        )
        open_problem = Task.objects.filter(
            customer=OuterRef("pk"),
            status=Task.Status.OPEN,
            priority__in=[Priority.HIGH, Priority.URGENT],
            due_date__lt=timezone.localdate(now),
        )
        qs = (
            base.annotate(since=Coalesce(Subquery(entered[:1]), F("created_at")))
            .filter(since__lte=now - days)
            .exclude(Exists(open_problem))
        )
    else:  # NO_PURCHASE, B2C only
        last_paid = Order.objects.filter(customer=OuterRef("pk"), status=Order.Status.PAID).order_by("-purchased_at")
        qs = (
            base.filter(kind=Customer.Kind.PERSON)
            .annotate(since=Coalesce(Subquery(last_paid.values("purchased_at")[:1]), F("created_at")))
            .filter(since__lte=now - days)
        )
    for pk, since in qs.order_by("pk").values_list("pk", "since").iterator():
        yield pk, since + days


def rules_evaluate(*, now: datetime | None = None) -> int:
    """Apply the enabled time-based rules (hourly beat). Safe to run twice or concurrently."""
    now = now or timezone.now()
    moved = 0
    for rule in TransitionRule.objects.filter(enabled=True, kind__in=TransitionRule.TIME_BASED, days__isnull=False):
        if rule.kind == TransitionRule.Kind.ADOPTION_DAYS:
            reason = _("%(days)s days in the stage with no open problem") % {"days": rule.days}
        else:
            reason = _("No purchase for %(days)s days") % {"days": rule.days}
        for customer_id, trigger_at in _time_rule_candidates(rule, now):
            if _rule_move(rule=rule, customer_id=customer_id, trigger_at=trigger_at, reason=reason):
                moved += 1
    return moved


@transaction.atomic
def rule_update(
    *,
    actor: AbstractBaseUser | None,
    rule: TransitionRule,
    enabled: bool,
    from_stages: Iterable[str],
    to_stage: str,
    days: int | None = None,
) -> TransitionRule:
    if actor is not None and not roles.is_manager(actor):
        raise PermissionDenied(_("Only a CS manager can change the transition rules."))
    errors: dict[str, list[str]] = {}
    stages = [s for s in Stage.values if s in set(from_stages)]
    if not stages:
        errors["from_stages"] = [_("Choose at least one stage the rule moves customers from.")]
    if to_stage not in Stage.values:
        errors["to_stage"] = [_("Choose a valid stage.")]
    elif to_stage in stages:
        errors["to_stage"] = [_("The target stage cannot also be a stage the rule moves customers from.")]
    if rule.is_time_based and (days is None or days < 1):
        errors["days"] = [_("Give the number of days (1 or more).")]
    if errors:
        raise ValidationError(errors)
    rule.enabled = enabled
    rule.from_stages = stages
    rule.to_stage = to_stage
    rule.days = days if rule.is_time_based else None
    rule.save()
    return rule


# --- playbooks ---------------------------------------------------------------------------------


def _require_manager(actor: Any) -> None:
    roles.require_manager(actor, _("Only a CS manager can change playbooks."))


def _active_conflict(*, stage: str, segment: Segment | None, exclude_pk: int | None) -> bool:
    qs = Playbook.objects.filter(stage=stage, active=True, segment=segment)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


@transaction.atomic
def playbook_save(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    stage: str,
    segment: Segment | None = None,
    active: bool = True,
    playbook: Playbook | None = None,
) -> Playbook:
    """Create (``playbook`` None) or update a playbook; one active playbook per stage and segment."""
    _require_manager(actor)
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Give the playbook a name.")]
    if stage not in Stage.values:
        errors["stage"] = [_("Choose a valid stage.")]
    elif active and _active_conflict(stage=stage, segment=segment, exclude_pk=playbook.pk if playbook else None):
        errors["active"] = [_("Another active playbook already covers this stage and segment; deactivate it first.")]
    if errors:
        raise ValidationError(errors)
    playbook = playbook or Playbook()
    playbook.name, playbook.stage, playbook.segment, playbook.active = name, stage, segment, active
    playbook.save()
    return playbook


def _clean_step(*, action: str, template: Any, task_title: str, task_priority: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if action not in PlaybookStep.Action.values:
        errors["action"] = [_("Choose an action.")]
    elif action == PlaybookStep.Action.SEND_MESSAGE and template is None:
        errors["template"] = [_("Choose the message template to send.")]
    elif action == PlaybookStep.Action.CREATE_TASK and not task_title.strip():
        errors["task_title"] = [_("Give the task a title.")]
    if task_priority not in Priority.values:
        errors["task_priority"] = [_("Choose a valid priority.")]
    return errors


@transaction.atomic
def playbook_step_save(
    *,
    actor: AbstractBaseUser | None,
    playbook: Playbook,
    day_offset: int,
    action: str,
    template: Any = None,
    task_title: str = "",
    task_priority: str = Priority.NORMAL,
    requires_approval: bool = False,
    step: PlaybookStep | None = None,
) -> PlaybookStep:
    """Add (``step`` None) or change a step. Runs already scheduled keep their due time."""
    _require_manager(actor)
    errors = _clean_step(action=action, template=template, task_title=task_title, task_priority=task_priority)
    if day_offset is None or day_offset < 0:
        errors["day_offset"] = [_("Give the day as 0 or more days after entering the stage.")]
    if errors:
        raise ValidationError(errors)
    step = step or PlaybookStep(playbook=playbook)
    step.day_offset = day_offset
    step.action = action
    step.template = template if action == PlaybookStep.Action.SEND_MESSAGE else None
    step.task_title = task_title.strip() if action == PlaybookStep.Action.CREATE_TASK else ""
    step.task_priority = task_priority
    step.requires_approval = requires_approval and action == PlaybookStep.Action.SEND_MESSAGE
    step.save()
    return step


@transaction.atomic
def playbook_step_delete(*, actor: AbstractBaseUser | None, step: PlaybookStep) -> None:
    """Remove a step and its scheduled runs (sent messages stay on the customer's timeline)."""
    _require_manager(actor)
    step.delete()


def template_preview(*, template: Any, customer: Customer, language: str | None = None) -> tuple[str, str]:
    """Render a message template for a real customer (raises ValidationError on an unknown variable)."""
    from messaging.services import template_render

    return template_render(template=template, customer=customer, language=language or customer.language)


# --- playbook runs -----------------------------------------------------------------------------


def _finish(run_id: int, status: str, detail: str = "", message_id: int | None = None) -> None:
    StepRun.objects.filter(pk=run_id, status=StepRun.Status.RUNNING).update(
        status=status, detail=detail[:2000], finished_at=timezone.now(), message_id=message_id
    )


def step_run_claim(*, step_run_id: int, now: datetime | None = None) -> bool:
    """pending → running; True only for the one caller whose UPDATE touched the row."""
    return (
        StepRun.objects.filter(pk=step_run_id, status=StepRun.Status.PENDING).update(
            status=StepRun.Status.RUNNING, started_at=now or timezone.now(), attempts=F("attempts") + 1
        )
        == 1
    )


def _send_step_message(run: StepRun, customer: Customer) -> Any:
    from messaging.services import message_queue

    template = run.step.template
    if template is None:
        raise ValidationError(_("The step has no message template."))
    return message_queue(
        customer=customer,
        idempotency_key=f"steprun:{run.pk}",
        template=template,
        purpose=template.purpose,
        channel=template.channel,
        automated=True,
        draft=run.step.requires_approval,
        source=f"playbook:{run.step.playbook_id}",
    )


def _task_for_step(run: StepRun, customer: Customer, now: datetime) -> Task:
    step = run.step
    task, _created = Task.objects.get_or_create(
        step_run=run,
        defaults={
            "owner_id": customer.owner_id,
            "customer": customer,
            "title": step.task_title or str(step),
            "due_date": timezone.localdate(now),
            "priority": step.task_priority,
            "origin": Task.Origin.PLAYBOOK,
        },
    )
    return task


def step_run_execute(*, step_run_id: int, now: datetime | None = None) -> bool:
    """Claim one due run and perform it; returns True when this call did the work.

    The claim is committed on its own so a second worker skips the row at once; the work then runs
    under the customer's row lock, which serialises it with stage_move: a customer who left the
    stage change the run belongs to gets nothing.
    """
    now = now or timezone.now()
    if not step_run_claim(step_run_id=step_run_id, now=now):
        return False
    try:
        with transaction.atomic():
            run = StepRun.objects.select_related("step__playbook", "step__template").get(pk=step_run_id)
            customer = Customer.objects.select_for_update().get(pk=run.customer_id)
            latest = latest_stage_change(customer_id=customer.pk)
            if latest is None or latest.pk != run.stage_change_id:
                _finish(run.pk, StepRun.Status.CANCELLED, "customer left the stage")
                return False
            message_id = None
            if run.step.action == PlaybookStep.Action.SEND_MESSAGE:
                message_id = _send_step_message(run, customer).pk
            else:
                _task_for_step(run, customer, now)
            _finish(run.pk, StepRun.Status.DONE, message_id=message_id)
        return True
    except ValidationError as exc:
        # Nothing to retry: a broken template, no address, no consent… recorded for the manager.
        _finish(step_run_id, StepRun.Status.SKIPPED, "; ".join(exc.messages))
        return False
    except Exception as exc:
        log.exception("playbook step run %s failed", step_run_id)
        attempts = StepRun.objects.filter(pk=step_run_id).values_list("attempts", flat=True).first() or MAX_ATTEMPTS
        if attempts >= MAX_ATTEMPTS:
            _finish(step_run_id, StepRun.Status.FAILED, repr(exc))
        else:
            StepRun.objects.filter(pk=step_run_id, status=StepRun.Status.RUNNING).update(
                status=StepRun.Status.PENDING, due_at=timezone.now() + RETRY_DELAY * attempts, detail=repr(exc)[:2000]
            )
        return False


def steps_requeue_stale(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return StepRun.objects.filter(status=StepRun.Status.RUNNING, started_at__lt=now - STALE_RUNNING_AFTER).update(
        status=StepRun.Status.PENDING
    )


def steps_run_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Run the playbook steps that are due (every-minute beat). Returns how many this call performed."""
    now = now or timezone.now()
    steps_requeue_stale(now=now)
    due = StepRun.objects.filter(status=StepRun.Status.PENDING, due_at__lte=now).order_by("due_at", "id")
    return sum(step_run_execute(step_run_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)[:limit]))


# --- CS tasks ----------------------------------------------------------------------------------


@transaction.atomic
def task_create(
    *,
    actor: AbstractBaseUser | None,
    customer: Customer,
    title: str,
    due_date: date,
    priority: str = Priority.NORMAL,
    notes: str = "",
    owner: AbstractBaseUser | None = None,
    origin: str = Task.Origin.MANUAL,
) -> Task:
    """Create a CS task. Agents create tasks on their own customers, for themselves."""
    if _is_user(actor):
        if not roles.can_edit_customer(actor, customer):
            raise PermissionDenied(_("You can only create tasks for the customers you own."))
        if owner is not None and owner.pk != actor.pk and not roles.is_manager(actor):
            raise PermissionDenied(_("Only a CS manager can give a task to someone else."))
    title = (title or "").strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = [_("Say what has to be done.")]
    if due_date is None:
        errors["due_date"] = [_("Give a due date.")]
    if priority not in Priority.values:
        errors["priority"] = [_("Choose a valid priority.")]
    if origin not in Task.Origin.values:
        errors["origin"] = [_("Unknown origin.")]
    if errors:
        raise ValidationError(errors)
    if owner is None:
        owner = customer.owner if customer.owner_id else (actor if _is_user(actor) else None)
    return Task.objects.create(
        owner=owner,
        customer=customer,
        title=title,
        notes=(notes or "").strip(),
        due_date=due_date,
        priority=priority,
        origin=origin,
        created_by=actor if _is_user(actor) else None,
    )


def can_complete_task(user: Any, task: Task) -> bool:
    if roles.is_manager(user):
        return True
    return roles.is_agent(user) and (task.owner_id == user.pk or roles.can_edit_customer(user, task.customer))


@transaction.atomic
def task_complete(*, actor: AbstractBaseUser | None, task: Task) -> Task:
    """Mark a task done (once: a second click changes nothing)."""
    if _is_user(actor) and not can_complete_task(actor, task):
        raise PermissionDenied(_("You can only complete your own tasks."))
    Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
        status=Task.Status.DONE, done_by=actor if _is_user(actor) else None, done_at=timezone.now()
    )
    task.refresh_from_db(fields=["status", "done_by", "done_at"])
    return task


# --- overdue digest ----------------------------------------------------------------------------


def overdue_digest_send_one(*, owner: AbstractBaseUser, today: date) -> bool:
    """E-mail ``owner`` their overdue tasks, at most once per day (the DigestLog row is the claim)."""
    tasks = list(
        Task.objects.filter(owner=owner, status=Task.Status.OPEN, due_date__lt=today)
        .select_related("customer")
        .order_by("due_date", "id")
    )
    if not tasks:
        return False
    try:
        with transaction.atomic():
            claim = DigestLog.objects.create(owner=owner, date=today, task_count=len(tasks))
    except IntegrityError:
        return False
    try:
        with translation.override(settings.LANGUAGE_CODE):
            context = {"owner": owner, "tasks": tasks, "site_url": settings.SITE_URL.rstrip("/"), "today": today}
            subject = render_to_string("funnel/email/overdue_digest_subject.txt", context).strip()
            body = render_to_string("funnel/email/overdue_digest.txt", context)
        mail.send_mail(subject, body, None, [owner.email])
    except Exception:
        DigestLog.objects.filter(pk=claim.pk).delete()  # release the claim so a later run retries today
        raise
    DigestLog.objects.filter(pk=claim.pk).update(sent_at=timezone.now())
    return True


def overdue_digest_send(*, today: date | None = None) -> int:
    """Daily beat: one e-mail per owner with overdue tasks. Safe to run twice the same day."""
    today = today or timezone.localdate()
    owners = (
        get_user_model()
        .objects.filter(is_active=True, cs_tasks__status=Task.Status.OPEN, cs_tasks__due_date__lt=today)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
    return sum(overdue_digest_send_one(owner=owner, today=today) for owner in owners)
