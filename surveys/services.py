"""Every write of the surveys app: surveys, invitations (sending, reminders, triggers), responses and
closing the loop. Views, the API, tasks and event handlers call these; none writes the ORM itself.

Idempotency: an invitation is unique per (survey, customer, source_key), its e-mail per
``survey-invitation:<id>`` and its reminder per ``survey-reminder:<id>`` (Message.idempotency_key),
so a trigger, wave or beat task that runs twice invites, sends and reminds once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer, Order
from messaging.conf import setting
from posvenda import events, roles

from . import links
from .models import SCALES, Category, Invitation, Kind, Response, Survey, Trigger, Wave

log = logging.getLogger(__name__)

Status = Invitation.Status
Skip = Invitation.SkipReason

COMMENT_MAX = 5000

# Built-in wording per survey type (English source strings, translated by the catalogue).
DEFAULT_WORDING: dict[str, dict[str, Any]] = {
    Kind.NPS: {
        "subject": gettext_lazy("How likely are you to recommend %(company)s?"),
        "intro": gettext_lazy("Hello, {first_name}! Your opinion helps us improve. It takes one click."),
        "question": gettext_lazy(
            "On a scale from 0 to 10, how likely are you to recommend %(company)s to a friend or colleague?"
        ),
        "low": gettext_lazy("Not at all likely"),
        "high": gettext_lazy("Extremely likely"),
    },
    Kind.CSAT: {
        "subject": gettext_lazy("How satisfied are you with %(company)s?"),
        "intro": gettext_lazy("Hello, {first_name}! Tell us how we did. It takes one click."),
        "question": gettext_lazy("How satisfied are you with %(company)s?"),
        "low": gettext_lazy("Very unsatisfied"),
        "high": gettext_lazy("Very satisfied"),
    },
    Kind.CES: {
        "subject": gettext_lazy("Was it easy to get what you needed?"),
        "intro": gettext_lazy("Hello, {first_name}! Tell us how easy it was. It takes one click."),
        "question": gettext_lazy("How easy was it to get what you needed from %(company)s?"),
        "low": gettext_lazy("Very difficult"),
        "high": gettext_lazy("Very easy"),
    },
    Kind.EXIT: {
        "subject": gettext_lazy("Why did you leave %(company)s?"),
        "intro": gettext_lazy("Hello, {first_name}. We are sorry to see you go. Would you tell us why?"),
        "question": gettext_lazy("What was the main reason you stopped being our customer?"),
        "low": "",
        "high": "",
    },
}
DEFAULT_FOLLOW_UP = gettext_lazy("Why?")
DEFAULT_EXIT_REASONS = (
    gettext_lazy("Price"),
    gettext_lazy("Product quality"),
    gettext_lazy("Customer service"),
    gettext_lazy("Delivery or logistics"),
    gettext_lazy("Switched to a competitor"),
    gettext_lazy("No longer needed"),
    gettext_lazy("Returned the product"),
    gettext_lazy("Other"),
)


# --- wording -------------------------------------------------------------------------------------


def _is_english(language: str | None) -> bool:
    return (language or "").lower().startswith("en")


def _pick(survey: Survey, field: str, language: str) -> str:
    english = getattr(survey, f"{field}_en", "") if _is_english(language) else ""
    return (english or getattr(survey, f"{field}_pt_br", "") or "").strip()


def survey_texts(*, survey: Survey, language: str | None = None) -> dict[str, Any]:
    """The wording of ``survey`` in ``language``: the survey's own texts, else the built-in ones.

    Custom English texts fall back to the Portuguese ones, then to the built-in wording."""
    language = language or settings.LANGUAGE_CODE
    company = setting("MESSAGING_COMPANY_NAME", "Posvenda")
    defaults = DEFAULT_WORDING[survey.kind]
    with translation.override(language):
        texts = {
            key: _pick(survey, key, language) or (str(defaults[key]) % {"company": company} if defaults[key] else "")
            for key in ("subject", "intro", "question")
        }
        texts["follow_up"] = (
            (_pick(survey, "follow_up", language) or str(DEFAULT_FOLLOW_UP)) if survey.ask_follow_up else ""
        )
        texts["low"] = str(defaults["low"])
        texts["high"] = str(defaults["high"])
        reasons_text = _pick(survey, "exit_reasons", language)
        texts["reasons"] = (
            [line.strip() for line in reasons_text.splitlines() if line.strip()]
            if reasons_text
            else [str(r) for r in DEFAULT_EXIT_REASONS]
        )
    scale = SCALES.get(survey.kind)
    texts["scores"] = list(range(scale[0], scale[1] + 1)) if scale else []
    return texts


def category_for(kind: str, score: int | None) -> str:
    """The category of ``score`` (docs/metrics.md): NPS 9–10 promoter, 7–8 passive, 0–6 detractor;
    CSAT 4–5 satisfied, 3 neutral, 1–2 unsatisfied; CES 5–7 easy, 4 neutral, 1–3 difficult."""
    if score is None:
        return ""
    if kind == Kind.NPS:
        return Category.PROMOTER if score >= 9 else Category.PASSIVE if score >= 7 else Category.DETRACTOR
    if kind == Kind.CSAT:
        return Category.SATISFIED if score >= 4 else Category.NEUTRAL if score == 3 else Category.UNSATISFIED
    if kind == Kind.CES:
        return Category.EASY if score >= 5 else Category.NEUTRAL if score == 4 else Category.DIFFICULT
    return ""


def needs_follow_up(kind: str, score: int | None) -> bool:
    """Detractor (NPS 0–6) or CSAT ≤ 2: the owner must follow up."""
    if score is None:
        return False
    return (kind == Kind.NPS and score <= 6) or (kind == Kind.CSAT and score <= 2)


# --- surveys -------------------------------------------------------------------------------------

SURVEY_FIELDS = (
    "name",
    "kind",
    "is_active",
    "subject_pt_br",
    "subject_en",
    "intro_pt_br",
    "intro_en",
    "question_pt_br",
    "question_en",
    "ask_follow_up",
    "follow_up_pt_br",
    "follow_up_en",
    "exit_reasons_pt_br",
    "exit_reasons_en",
    "trigger",
    "trigger_days",
    "segment",
    "link_valid_days",
    "reminder_after_days",
    "fatigue_days",
    "quiet_days_after_ticket",
    "detractor_task",
    "detractor_ticket",
    "detractor_task_days",
    "promoter_to_funnel",
)


def _require_manager(actor: Any) -> None:
    roles.require_manager(actor, _("Only a CS manager can create or change surveys."))


def _validate_survey(survey: Survey) -> None:
    errors: dict[str, list[str]] = {}
    if not (survey.name or "").strip():
        errors["name"] = [_("Give the survey a name.")]
    if survey.kind not in Kind.values:
        errors["kind"] = [_("Choose a survey type.")]
    if survey.trigger not in Trigger.values:
        errors["trigger"] = [_("Choose when the survey is sent.")]
    if survey.trigger in (Trigger.AFTER_ORDER, Trigger.RECURRING) and not survey.trigger_days:
        errors["trigger_days"] = [_("Give the number of days (1 or more).")]
    if survey.trigger in (Trigger.ON_CHURN, Trigger.ON_RETURN) and survey.kind != Kind.EXIT:
        errors["trigger"] = [_("Only an exit survey can be sent on churn or on a returned product.")]
    if not survey.link_valid_days:
        errors["link_valid_days"] = [_("A link must stay valid for at least one day.")]
    if survey.kind == Kind.EXIT:
        for field in ("exit_reasons_pt_br", "exit_reasons_en"):
            lines = [line for line in (getattr(survey, field) or "").splitlines() if line.strip()]
            if any(len(line.strip()) > 200 for line in lines):
                errors[field] = [_("Keep each reason under 200 characters.")]
    for field in ("intro_pt_br", "intro_en"):
        text = getattr(survey, field)
        if text:
            from messaging.services import template_validate

            try:
                template_validate(subject="", body=text)
            except ValidationError as exc:
                errors[field] = exc.message_dict.get("body", exc.messages)
    if errors:
        raise ValidationError(errors)
    try:
        survey.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc


@transaction.atomic
def survey_create(*, actor: AbstractBaseUser | None, **fields: Any) -> Survey:
    _require_manager(actor)
    unknown = set(fields) - set(SURVEY_FIELDS)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
    survey = Survey(**fields, created_by=actor if getattr(actor, "is_authenticated", False) else None)
    _validate_survey(survey)
    survey.save()
    return survey


@transaction.atomic
def survey_update(*, actor: AbstractBaseUser | None, survey: Survey, **fields: Any) -> Survey:
    _require_manager(actor)
    unknown = set(fields) - set(SURVEY_FIELDS)
    if unknown:
        raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
    locked = Survey.objects.select_for_update().get(pk=survey.pk)
    if "kind" in fields and fields["kind"] != locked.kind and locked.responses.exists():
        raise ValidationError({"kind": [_("The type of a survey with answers cannot change; create a new survey.")]})
    for name, value in fields.items():
        setattr(locked, name, value)
    _validate_survey(locked)
    locked.save()
    return locked


# --- invitations ---------------------------------------------------------------------------------


def _default_key(prefix: str) -> str:
    return f"{prefix}:{timezone.localdate().isoformat()}"


def _can_send_to(actor: AbstractBaseUser | None, customer: Customer) -> bool:
    return actor is None or roles.can_edit_customer(actor, customer)


def invitation_create(
    *,
    survey: Survey,
    customer: Customer,
    source: str = Invitation.Source.MANUAL,
    source_key: str = "",
    due_at: datetime | None = None,
    wave: Wave | None = None,
    actor: AbstractBaseUser | None = None,
    send_now: bool = True,
) -> tuple[Invitation, bool]:
    """Invite ``customer`` to ``survey`` once per ``source_key``; (invitation, created).

    Due now (the default): the invitation is sent in this transaction (its e-mail leaves after
    commit), unless ``send_now`` is False (a large API batch): then the every-minute beat task, or
    a worker kicked after commit, sends it. Due later: the beat task sends it then. A manual send
    without a key is keyed by the day, so a double click invites once.
    """
    if actor is not None and not _can_send_to(actor, customer):
        raise PermissionDenied(_("You can only send surveys to the customers you own."))
    if source not in Invitation.Source.values:
        raise ValidationError({"source": [_("Unknown source.")]})
    key = (source_key or "").strip()[:80] or _default_key(source)
    now = timezone.now()
    existing = Invitation.objects.filter(survey=survey, customer=customer, source_key=key).first()
    if existing is not None:
        return existing, False
    invitation = Invitation(
        survey=survey,
        customer=customer,
        nonce=secrets.token_urlsafe(18),
        source=source,
        source_key=key,
        wave=wave,
        language=customer.language or settings.LANGUAGE_CODE,
        due_at=due_at or now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        existing = Invitation.objects.filter(survey=survey, customer=customer, source_key=key).first()
        if existing is None:
            raise
        return existing, False
    if send_now and invitation.due_at <= now:
        invitation_send(invitation_id=invitation.pk, now=now)
        invitation.refresh_from_db()
    return invitation, True


def _fatigued(invitation: Invitation, now: datetime) -> bool:
    """Was this customer sent a survey of the same type within the survey's fatigue window?"""
    window = invitation.survey.fatigue_days
    if not window:
        return False
    return (
        Invitation.objects.filter(
            customer_id=invitation.customer_id,
            survey__kind=invitation.survey.kind,
            status__in=(Status.SENT, Status.ANSWERED),
            sent_at__gte=now - timedelta(days=window),
        )
        .exclude(pk=invitation.pk)
        .exists()
    )


def _recent_ticket(invitation: Invitation, now: datetime) -> bool:
    """Did the customer have a support ticket opened or resolved within the quiet period? (A survey
    about that ticket — trigger "after a ticket is resolved" — is exempt.)"""
    days = invitation.survey.quiet_days_after_ticket
    if not days or invitation.source == Invitation.Source.TICKET:
        return False
    from django.db.models import Q

    from support.models import Ticket

    since = now - timedelta(days=days)
    return Ticket.objects.filter(
        Q(opened_at__gte=since) | Q(resolved_at__gte=since), customer_id=invitation.customer_id
    ).exists()


def _skip(invitation: Invitation, reason: str, detail: str = "") -> None:
    invitation.status, invitation.skip_reason, invitation.skip_detail = Status.SKIPPED, reason, str(detail)[:300]
    invitation.save(update_fields=["status", "skip_reason", "skip_detail"])


def _email_parts(invitation: Invitation, *, reminder: bool = False) -> tuple[str, str, dict]:
    """(subject, body, extra) of the invitation e-mail in the customer's language."""
    from messaging.services import text_render

    survey, customer = invitation.survey, invitation.customer
    texts = survey_texts(survey=survey, language=invitation.language)
    subject, body = text_render(
        subject=texts["subject"], body=texts["intro"], customer=customer, language=invitation.language
    )
    with translation.override(invitation.language):
        if reminder:
            subject = _("Reminder: %(subject)s") % {"subject": subject}
        if texts["scores"]:
            extra = {
                "scale": {
                    "question": texts["question"],
                    "low": texts["low"],
                    "high": texts["high"],
                    "links": [
                        [score, links.answer_url(invitation.pk, invitation.nonce, score)] for score in texts["scores"]
                    ],
                }
            }
        else:
            body = f"{body}\n\n{texts['question']}"
            extra = {
                "button": {
                    "label": _("Answer the survey"),
                    "url": links.answer_url(invitation.pk, invitation.nonce),
                }
            }
    return subject, body, extra


@transaction.atomic
def invitation_send(*, invitation_id: int, now: datetime | None = None) -> bool:
    """Send a scheduled invitation once (the row lock and its status are the claim).

    Skips it (with the reason) when the survey is inactive, the customer was surveyed with the same
    type inside the fatigue window, or messaging blocks the e-mail (consent, suppression, address,
    weekly cap). Returns True when an e-mail was queued.
    """
    from messaging.models import Message
    from messaging.services import message_queue

    now = now or timezone.now()
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("survey", "customer")
        .filter(pk=invitation_id, status=Status.SCHEDULED)
        .first()
    )
    if invitation is None:
        return False
    survey, customer = invitation.survey, invitation.customer
    if not survey.is_active:
        _skip(invitation, Skip.INACTIVE)
        return False
    if not (customer.email or "").strip():
        _skip(invitation, Skip.NO_EMAIL)
        return False
    # Serialise sends to one customer so two invitations cannot both pass the fatigue check.
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
    if _fatigued(invitation, now):
        _skip(invitation, Skip.FATIGUE)
        return False
    if _recent_ticket(invitation, now):
        _skip(invitation, Skip.RECENT_TICKET)
        return False
    subject, body, extra = _email_parts(invitation)
    message = message_queue(
        customer=customer,
        idempotency_key=f"survey-invitation:{invitation.pk}",
        subject=subject,
        body=body,
        extra=extra,
        purpose="surveys",
        channel="email",
        automated=True,
        source=f"survey:{survey.pk}",
    )
    invitation.message = message
    if message.status == Message.Status.BLOCKED:
        invitation.save(update_fields=["message"])
        _skip(invitation, Skip.BLOCKED, message.get_blocked_reason_display())
        return False
    invitation.status = Status.SENT
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=survey.link_valid_days)
    if survey.reminder_after_days and survey.reminder_after_days < survey.link_valid_days:
        invitation.reminder_due_at = now + timedelta(days=survey.reminder_after_days)
    invitation.save(update_fields=["message", "status", "sent_at", "expires_at", "reminder_due_at"])
    return True


def invitations_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Every minute: send the scheduled invitations that are due (each once)."""
    now = now or timezone.now()
    ids = list(
        Invitation.objects.filter(status=Status.SCHEDULED, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for invitation_id in ids:
        try:
            sent += invitation_send(invitation_id=invitation_id, now=now)
        except Exception:  # one bad row must not stop the others; it stays scheduled for the next pass
            log.exception("Sending survey invitation %s failed", invitation_id)
    return sent


@transaction.atomic
def invitation_remind(*, invitation_id: int, now: datetime | None = None) -> bool:
    """Send the one reminder of an unanswered invitation (claimed by setting reminded_at)."""
    from messaging.services import message_queue

    now = now or timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation_id,
        status=Status.SENT,
        reminded_at__isnull=True,
        reminder_due_at__lte=now,
        expires_at__gt=now,
    ).update(reminded_at=now)
    if claimed != 1:
        return False
    invitation = Invitation.objects.select_related("survey", "customer").get(pk=invitation_id)
    subject, body, extra = _email_parts(invitation, reminder=True)
    invitation.reminder_message = message_queue(
        customer=invitation.customer,
        idempotency_key=f"survey-reminder:{invitation.pk}",
        subject=subject,
        body=body,
        extra=extra,
        purpose="surveys",
        channel="email",
        automated=True,
        source=f"survey:{invitation.survey_id}:reminder",
    )
    invitation.save(update_fields=["reminder_message"])
    return True


def invitations_remind_due(*, now: datetime | None = None, limit: int = 500) -> int:
    now = now or timezone.now()
    ids = list(
        Invitation.objects.filter(
            status=Status.SENT, reminded_at__isnull=True, reminder_due_at__lte=now, expires_at__gt=now
        )
        .order_by("reminder_due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(invitation_remind(invitation_id=i, now=now) for i in ids)


# --- waves (a segment, a list of customers, recurring) --------------------------------------------


@transaction.atomic
def wave_create(
    *,
    actor: AbstractBaseUser | None,
    survey: Survey,
    segment: Any = None,
    customer_ids: Iterable[int] | None = None,
    key: str = "",
) -> Wave:
    """Send ``survey`` to a segment or a list of customers (all customers when both are empty,
    managers only). A worker does the sending after commit; each customer is invited once."""
    ids = sorted({int(i) for i in (customer_ids or [])})
    if actor is not None:
        if not (roles.is_manager(actor) or roles.is_agent(actor)):
            raise PermissionDenied(_("You cannot send surveys."))
        if segment is None and not ids and not roles.is_manager(actor):
            raise PermissionDenied(_("Only a CS manager can send a survey to every customer."))
        if not roles.is_manager(actor):
            allowed = Customer.objects.filter(pk__in=ids, owner=actor).count()
            if segment is not None or allowed != len(ids):
                raise PermissionDenied(_("You can only send surveys to the customers you own."))
    if not survey.is_active:
        raise ValidationError({"survey": [_("This survey is inactive; activate it before sending.")]})
    wave = Wave(
        survey=survey,
        segment=segment,
        customer_ids=ids,
        key=key,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    wave.save()

    def enqueue() -> None:
        from . import tasks

        try:
            tasks.run_wave.delay(wave.pk)
        except Exception:  # the every-minute beat entry starts pending waves
            log.warning("Broker unavailable; survey wave %s will be started by beat.", wave.pk)

    transaction.on_commit(enqueue)
    return wave


def _wave_customers(wave: Wave) -> Any:
    customers = Customer.objects.all()
    if wave.customer_ids:
        customers = customers.filter(pk__in=wave.customer_ids)
    elif wave.segment_id:
        customers = customers.filter(segment_id=wave.segment_id)
    return customers.exclude(stage=Customer.Stage.CHURNED) if wave.survey.kind != Kind.EXIT else customers


STALE_WAVE = timedelta(minutes=15)


def wave_run(*, wave_id: int, now: datetime | None = None, chunk: int = 200) -> int:
    """Invite every customer of the wave (each once: keyed by the wave). Safe to run twice and to
    resume after a crash: invitations already made are found by their key and skipped."""
    now = now or timezone.now()
    claimed = Wave.objects.filter(pk=wave_id, status=Wave.Status.PENDING).update(status=Wave.Status.RUNNING)
    if not claimed:
        # A wave left RUNNING by a killed worker is resumed by beat (waves_run_pending).
        return 0
    wave = Wave.objects.select_related("survey").get(pk=wave_id)
    ids = list(_wave_customers(wave).order_by("id").values_list("id", flat=True))
    Wave.objects.filter(pk=wave_id).update(total=len(ids))
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with transaction.atomic():
            for customer in Customer.objects.filter(pk__in=part).order_by("id"):
                invitation_create(
                    survey=wave.survey,
                    customer=customer,
                    source=Invitation.Source.WAVE,
                    source_key=f"wave:{wave.pk}",
                    wave=wave,
                    due_at=now,
                )
        _wave_count(wave_id)
    _wave_count(wave_id)
    Wave.objects.filter(pk=wave_id).update(status=Wave.Status.DONE, finished_at=timezone.now())
    return len(ids)


def _wave_count(wave_id: int) -> None:
    invited = Invitation.objects.filter(wave_id=wave_id, status__in=(Status.SENT, Status.ANSWERED)).count()
    skipped = Invitation.objects.filter(wave_id=wave_id, status=Status.SKIPPED).count()
    Wave.objects.filter(pk=wave_id).update(invited=invited, skipped=skipped)


def waves_run_pending(*, now: datetime | None = None) -> int:
    """Every minute: start waves whose hand-off to a worker was lost, and resume stale ones."""
    now = now or timezone.now()
    Wave.objects.filter(status=Wave.Status.RUNNING, created_at__lt=now - STALE_WAVE).update(status=Wave.Status.PENDING)
    done = 0
    for wave_id in Wave.objects.filter(status=Wave.Status.PENDING).values_list("id", flat=True)[:20]:
        done += wave_run(wave_id=wave_id, now=now) or 0
    return done


def recurring_waves_start(*, now: datetime | None = None) -> int:
    """Daily: start the next wave of every active recurring survey whose last wave is N days old.
    The wave key (recurring:<n>) makes a second run of the same day create nothing."""
    now = now or timezone.now()
    started = 0
    for survey in Survey.objects.filter(is_active=True, trigger=Trigger.RECURRING):
        last = survey.waves.filter(key__startswith="recurring:").order_by("-created_at").first()
        if last is not None and last.created_at > now - timedelta(days=survey.trigger_days):
            continue
        number = survey.waves.filter(key__startswith="recurring:").count() + 1
        try:
            with transaction.atomic():
                wave_create(actor=None, survey=survey, segment=survey.segment, key=f"recurring:{number}")
            started += 1
        except IntegrityError:
            continue
    return started


# --- triggers (domain events) ---------------------------------------------------------------------


def order_trigger(*, order_id: int) -> int:
    """An order was recorded: schedule each active after-order survey for N days after the
    purchase (once per order, however often the order is imported or its event replayed)."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None or order.status in (Order.Status.CANCELLED, Order.Status.REFUNDED):
        return 0
    made = 0
    for survey in Survey.objects.filter(is_active=True, trigger=Trigger.AFTER_ORDER):
        with transaction.atomic():
            _, created = invitation_create(
                survey=survey,
                customer=order.customer,
                source=Invitation.Source.ORDER,
                source_key=f"order:{order.pk}",
                due_at=max(order.purchased_at + timedelta(days=survey.trigger_days), timezone.now()),
            )
        made += created
    return made


def churn_trigger(*, customer_id: int, stage_change_id: int) -> int:
    """The customer moved to churned: send each active on-churn (exit) survey once per churn."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        return 0
    made = 0
    for survey in Survey.objects.filter(is_active=True, trigger=Trigger.ON_CHURN):
        with transaction.atomic():
            _, created = invitation_create(
                survey=survey,
                customer=customer,
                source=Invitation.Source.CHURN,
                source_key=f"churn:{stage_change_id}",
            )
        made += created
    return made


def ticket_trigger(*, ticket_id: int, cycle: int = 0) -> int:
    """A support ticket was resolved: send each active after-ticket survey (usually CSAT) once per
    resolution (a reopened and resolved-again ticket is another cycle)."""
    from support.models import Ticket

    ticket = Ticket.objects.select_related("customer").filter(pk=ticket_id).first()
    if ticket is None:
        return 0
    made = 0
    for survey in Survey.objects.filter(is_active=True, trigger=Trigger.AFTER_TICKET):
        with transaction.atomic():
            _, created = invitation_create(
                survey=survey,
                customer=ticket.customer,
                source=Invitation.Source.TICKET,
                source_key=f"ticket:{ticket.pk}:{cycle}",
            )
        made += created
    return made


def return_trigger(*, order_id: int) -> int:
    """An order was refunded (product returned): send each active on-return (exit) survey once per order."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        return 0
    made = 0
    for survey in Survey.objects.filter(is_active=True, trigger=Trigger.ON_RETURN):
        with transaction.atomic():
            _, created = invitation_create(
                survey=survey,
                customer=order.customer,
                source=Invitation.Source.RETURN,
                source_key=f"return:{order.pk}",
            )
        made += created
    return made


# --- answers -------------------------------------------------------------------------------------


class BadLink(Exception):
    """A survey link that cannot be used: ``reason`` is "invalid" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invitation_from_token(token: str, *, now: datetime | None = None) -> Invitation:
    """The invitation a link points at; raises BadLink when tampered with, unknown or expired."""
    from django.core import signing

    try:
        invitation_id, nonce = links.token_payload(token)
    except signing.BadSignature as exc:
        raise BadLink("invalid") from exc
    # The public page needs the survey's wording, not the customer: response_submit loads and locks
    # what it writes. A narrower query is measurably cheaper per request (docs/benchmarks.md).
    invitation = (
        Invitation.objects.select_related("survey")
        .filter(pk=invitation_id, nonce=nonce, status__in=(Status.SENT, Status.ANSWERED))
        .first()
    )
    if invitation is None:
        raise BadLink("invalid")
    if invitation.expires_at is not None and invitation.expires_at <= (now or timezone.now()):
        raise BadLink("expired")
    return invitation


def _clean_answer(survey: Survey, texts: dict[str, Any], score: Any, reason: Any, comment: Any) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    value: int | None = None
    scale = SCALES.get(survey.kind)
    if scale is not None:
        try:
            value = int(str(score).strip())
        except (TypeError, ValueError):
            value = None
        if value is None or not scale[0] <= value <= scale[1]:
            errors["score"] = [_("Choose a score from %(low)s to %(high)s.") % {"low": scale[0], "high": scale[1]}]
    reason_text = (reason or "").strip() if isinstance(reason, str) else ""
    if survey.kind == Kind.EXIT:
        if reason_text not in texts["reasons"]:
            errors["reason"] = [_("Choose one of the reasons.")]
    else:
        reason_text = ""
    comment_text = (comment or "").strip() if isinstance(comment, str) else ""
    if len(comment_text) > COMMENT_MAX:
        errors["comment"] = [_("Keep the comment under %(max)s characters.") % {"max": COMMENT_MAX}]
    if errors:
        raise ValidationError(errors)
    return {"score": value, "reason": reason_text, "comment": comment_text}


@transaction.atomic
def response_submit(
    *,
    invitation: Invitation,
    score: Any = None,
    reason: Any = None,
    comment: Any = "",
    now: datetime | None = None,
    defer_follow_up: bool = False,
) -> Response:
    """Record (or update) the answer to ``invitation``; closes the loop as the survey says.

    Answering again through the same link updates the one response. Raises ValidationError with
    the field messages for a score outside the scale or an unknown exit reason (nothing saved).
    ``defer_follow_up`` (the public page): only the answer is written in the request; closing the
    loop, the funnel move and the ``survey_answered`` event run in a worker right after commit
    (``response_follow_up``), with the every-minute beat entry as the safety net.
    """
    now = now or timezone.now()
    # Lock the invitation row only: FOR UPDATE on the join would also lock the survey row and make
    # every answer to the same survey wait for the previous one (bench/bench_survey_answers.py).
    locked = (
        Invitation.objects.select_for_update(of=("self",)).select_related("survey", "customer").get(pk=invitation.pk)
    )
    if locked.status not in (Status.SENT, Status.ANSWERED):
        raise BadLink("invalid")
    if locked.expires_at is not None and locked.expires_at <= now:
        raise BadLink("expired")
    survey = locked.survey
    texts = survey_texts(survey=survey, language=locked.language)
    answer = _clean_answer(survey, texts, score, reason, comment)
    category = category_for(survey.kind, answer["score"])
    response = Response.objects.filter(invitation=locked).first()
    first = response is None
    if first:
        response = Response(
            invitation=locked,
            survey=survey,
            customer=locked.customer,
            kind=survey.kind,
            language=locked.language,
            answered_at=now,
        )
    else:
        response.times_answered += 1
        response.answered_at = now
    response.score, response.reason, response.comment = answer["score"], answer["reason"], answer["comment"]
    response.category = category
    response.follow_up_due = defer_follow_up
    response.save()
    if locked.status != Status.ANSWERED:
        locked.status = Status.ANSWERED
        locked.save(update_fields=["status"])
    if defer_follow_up:
        response_id = response.pk

        def enqueue() -> None:
            from . import tasks

            try:
                tasks.follow_up.delay(response_id)
            except Exception:  # the row says it is due: the every-minute beat entry runs it
                log.warning("Broker unavailable; the follow-up of response %s waits for beat.", response_id)

        transaction.on_commit(enqueue)
    else:
        _follow_up(response, first=first, now=now)
    return response


def _follow_up(response: Response, *, first: bool, now: datetime) -> None:
    _close_loop_after_answer(response, now=now)
    events.emit(
        events.SURVEY_ANSWERED,
        response_id=response.pk,
        survey_id=response.survey_id,
        customer_id=response.customer_id,
        kind=response.kind,
        score=response.score,
        category=response.category,
        first=first,
    )


@transaction.atomic
def response_follow_up(*, response_id: int, now: datetime | None = None) -> bool:
    """Run the deferred follow-up of an answer once (claimed by clearing ``follow_up_due``)."""
    claimed = Response.objects.filter(pk=response_id, follow_up_due=True).update(follow_up_due=False)
    if claimed != 1:
        return False
    response = Response.objects.select_related("survey", "customer").get(pk=response_id)
    _follow_up(response, first=response.times_answered == 1, now=now or timezone.now())
    return True


def follow_ups_run_due(*, limit: int = 500) -> int:
    """Every minute: the follow-ups whose hand-off to a worker was lost."""
    ids = list(Response.objects.filter(follow_up_due=True).order_by("id").values_list("id", flat=True)[:limit])
    done = 0
    for response_id in ids:
        try:
            done += response_follow_up(response_id=response_id)
        except Exception:
            log.exception("Follow-up of survey response %s failed", response_id)
    return done


def _close_loop_after_answer(response: Response, *, now: datetime) -> None:
    from funnel.models import Priority, Task
    from funnel.services import customer_promoted, task_create

    survey, customer = response.survey, response.customer
    if survey.detractor_task and needs_follow_up(response.kind, response.score) and response.loop_task_id is None:
        with translation.override(settings.LANGUAGE_CODE):
            kind_label = str(Kind(response.kind).label).split(" ")[0]
            title = _("Follow up a %(kind)s %(score)s answer from %(customer)s") % {
                "kind": kind_label,
                "score": response.score,
                "customer": customer.name,
            }
            notes = _("Survey: %(survey)s\nScore: %(score)s\nComment: %(comment)s") % {
                "survey": survey.name,
                "score": response.score,
                "comment": response.comment or "—",
            }
        task = task_create(
            actor=None,
            customer=customer,
            title=title[:200],
            notes=notes,
            due_date=timezone.localdate(now) + timedelta(days=survey.detractor_task_days),
            priority=Priority.HIGH,
            origin=Task.Origin.SURVEY,
        )
        response.loop_task, response.loop = task, Response.Loop.OPEN
        response.save(update_fields=["loop_task", "loop"])
    if survey.detractor_ticket and needs_follow_up(response.kind, response.score):
        _open_ticket_for(response)
    if survey.promoter_to_funnel and response.category == Category.PROMOTER:
        customer_promoted(customer, _("NPS %(score)s (promoter)") % {"score": response.score}, occurred_at=now)


def answer_ticket_texts(response: Response) -> tuple[str, str]:
    """(subject, description) of a support ticket about an answer: "NPS 3 — <customer>", and the
    comment (or what was answered, when there is no comment). The ticket form's prefill and the
    automatic detractor ticket both use it."""
    kind = response.kind.upper() if response.kind in (Kind.NPS, Kind.CSAT, Kind.CES) else response.get_kind_display()
    answer = response.score if response.score is not None else response.reason
    name = response.customer.name
    subject = f"{kind} {answer} — {name}" if answer not in (None, "") else f"{kind} — {name}"
    description = response.comment or _("Answered %(answer)s to “%(survey)s”, without a comment.") % {
        "answer": answer if answer not in (None, "") else "—",
        "survey": response.survey.name,
    }
    return subject[:200], description


def _open_ticket_for(response: Response) -> None:
    """One support ticket per detractor answer (keyed by the response), for the customer's owner."""
    from support.models import Ticket
    from support.services import ticket_create

    with translation.override(settings.LANGUAGE_CODE):
        subject, description = answer_ticket_texts(response)
    ticket_create(
        actor=None,
        customer=response.customer,
        subject=subject,
        description=description,
        channel=Ticket.Channel.SURVEY,
        category=Ticket.Category.COMPLAINT,
        priority="high",
        source_key=f"survey-response:{response.pk}",
        survey_response=response,
    )


@transaction.atomic
def response_close_loop(*, actor: AbstractBaseUser | None, response: Response, note: str) -> Response:
    """The owner (or a manager) records the follow-up: the response shows "loop closed" and its
    task is done. Closing twice keeps the first closing."""
    from customers.services import interaction_add
    from funnel.models import Task
    from funnel.services import task_complete

    locked = Response.objects.select_for_update().select_related("customer", "survey").get(pk=response.pk)
    if actor is not None and not roles.can_edit_customer(actor, locked.customer):
        raise PermissionDenied(_("Only the customer's owner or a CS manager can close the loop."))
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": [_("Say what you did to follow up.")]})
    if locked.loop == Response.Loop.CLOSED:
        return locked
    locked.loop = Response.Loop.CLOSED
    locked.loop_note = note
    locked.loop_closed_at = timezone.now()
    locked.loop_closed_by = actor if getattr(actor, "is_authenticated", False) else None
    locked.save(update_fields=["loop", "loop_note", "loop_closed_at", "loop_closed_by"])
    if locked.loop_task_id:
        task = Task.objects.get(pk=locked.loop_task_id)
        task_complete(actor=None, task=task)
    interaction_add(
        actor=None,
        customer=locked.customer,
        subject=_("Survey follow-up: %(survey)s") % {"survey": locked.survey.name},
        body=note,
    )
    return locked
