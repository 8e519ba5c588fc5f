"""NPS, CSAT, CES and exit surveys: the survey, one signed invitation per customer and send, and
at most one response per invitation (answering again updates it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Segment
from posvenda.models import TimeStampedModel


class Kind(models.TextChoices):
    NPS = "nps", _("NPS (0–10)")
    CSAT = "csat", _("CSAT (1–5)")
    CES = "ces", _("CES (1–7)")
    EXIT = "exit", _("Exit survey")


# (lowest, highest) score per kind; the exit survey has reasons instead of a score.
SCALES: dict[str, tuple[int, int]] = {Kind.NPS: (0, 10), Kind.CSAT: (1, 5), Kind.CES: (1, 7)}


class Category(models.TextChoices):
    """Where a score falls. NPS: promoter 9–10, passive 7–8, detractor 0–6 (the standard; see
    docs/metrics.md). CSAT: satisfied 4–5, neutral 3, unsatisfied 1–2. CES: easy 5–7, neutral 4,
    difficult 1–3. Exit: no score, no category."""

    PROMOTER = "promoter", _("Promoter")
    PASSIVE = "passive", _("Passive")
    DETRACTOR = "detractor", _("Detractor")
    SATISFIED = "satisfied", _("Satisfied")
    NEUTRAL = "neutral", _("Neutral")
    UNSATISFIED = "unsatisfied", _("Unsatisfied")
    EASY = "easy", _("Easy")
    DIFFICULT = "difficult", _("Difficult")


class Trigger(models.TextChoices):
    MANUAL = "manual", _("Only when sent by hand or by the API")
    AFTER_ORDER = "after_order", _("N days after an order")
    ON_CHURN = "on_churn", _("When the customer churns")
    ON_RETURN = "on_return", _("When an order is refunded (product returned)")
    AFTER_TICKET = "after_ticket", _("When a support ticket is resolved")
    RECURRING = "recurring", _("Recurring wave (every N days)")


class Survey(TimeStampedModel):
    name = models.CharField(_("name"), max_length=150)
    kind = models.CharField(_("type"), max_length=8, choices=Kind.choices, default=Kind.NPS)
    is_active = models.BooleanField(_("active"), default=True)

    # Wording per language; empty fields use the built-in wording of the survey type.
    subject_pt_br = models.CharField(_("e-mail subject (Portuguese)"), max_length=200, blank=True)
    subject_en = models.CharField(_("e-mail subject (English)"), max_length=200, blank=True)
    intro_pt_br = models.TextField(_("e-mail text (Portuguese)"), blank=True)
    intro_en = models.TextField(_("e-mail text (English)"), blank=True)
    question_pt_br = models.CharField(_("question (Portuguese)"), max_length=300, blank=True)
    question_en = models.CharField(_("question (English)"), max_length=300, blank=True)
    ask_follow_up = models.BooleanField(_("ask a follow-up question"), default=True)
    follow_up_pt_br = models.CharField(_("follow-up question (Portuguese)"), max_length=300, blank=True)
    follow_up_en = models.CharField(_("follow-up question (English)"), max_length=300, blank=True)
    exit_reasons_pt_br = models.TextField(_("exit reasons (Portuguese), one per line"), blank=True)
    exit_reasons_en = models.TextField(_("exit reasons (English), one per line"), blank=True)

    # Sending
    trigger = models.CharField(_("send automatically"), max_length=12, choices=Trigger.choices, default=Trigger.MANUAL)
    trigger_days = models.PositiveIntegerField(
        _("days"), default=7, help_text=_("Days after the order, or days between recurring waves.")
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Recurring waves go to this segment (all customers when empty)."),
    )
    link_valid_days = models.PositiveIntegerField(_("link valid for (days)"), default=30)
    reminder_after_days = models.PositiveIntegerField(
        _("reminder after (days)"), default=3, help_text=_("One reminder to those who did not answer; 0 = none.")
    )
    fatigue_days = models.PositiveIntegerField(
        _("survey fatigue window (days)"),
        default=90,
        help_text=_("A customer gets this survey type at most once in this window."),
    )

    quiet_days_after_ticket = models.PositiveIntegerField(
        _("quiet days after a ticket"),
        default=7,
        help_text=_("Not sent within this many days after a support ticket was opened or resolved; 0 = off."),
    )

    # Closing the loop
    detractor_task = models.BooleanField(_("task for the owner on a detractor answer"), default=True)
    detractor_ticket = models.BooleanField(_("support ticket on a detractor answer"), default=True)
    detractor_task_days = models.PositiveIntegerField(_("task due in (days)"), default=2)
    promoter_to_funnel = models.BooleanField(_("move promoters towards evangelization"), default=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="survey_kind_valid"),
            models.CheckConstraint(condition=Q(link_valid_days__gte=1), name="survey_link_valid_days_min"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scale(self) -> tuple[int, int] | None:
        return SCALES.get(self.kind)


class Wave(models.Model):
    """One send of a survey to many customers (a segment, a list, or a recurring wave)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Sending")
        DONE = "done", _("Done")

    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="waves")
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_ids = models.JSONField(_("customers"), default=list, blank=True)
    # "recurring:<n>" for the n-th recurring wave, so beat running twice creates it once.
    key = models.CharField(_("key"), max_length=80, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(_("customers"), default=0)
    invited = models.PositiveIntegerField(_("invited"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("survey wave")
        verbose_name_plural = _("survey waves")
        constraints = [
            models.UniqueConstraint(fields=["survey", "key"], condition=~Q(key=""), name="wave_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} ({self.created_at:%Y-%m-%d})" if self.created_at else str(self.survey)


class Invitation(models.Model):
    """One customer asked to answer one survey, through one signed link.

    ``source_key`` makes every send idempotent: the same (survey, customer, source_key) is invited
    once however often the trigger, the wave task or the API request runs.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered")
        SKIPPED = "skipped", _("Not sent")

    class SkipReason(models.TextChoices):
        FATIGUE = "fatigue", _("Already surveyed recently (survey fatigue rule)")
        RECENT_TICKET = "ticket", _("Had a support ticket recently")
        BLOCKED = "blocked", _("Message blocked (consent, suppression, address or frequency cap)")
        INACTIVE = "inactive", _("Survey inactive")
        NO_EMAIL = "no_email", _("No e-mail address")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Sent by hand")
        WAVE = "wave", _("Wave")
        ORDER = "order", _("After an order")
        CHURN = "churn", _("On churn")
        RETURN = "return", _("Product returned")
        TICKET = "ticket", _("After a ticket")
        API = "api", _("API")

    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="survey_invitations"
    )
    # Random secret part of the link: a signature alone would let an old link be replayed after a
    # re-send; the nonce ties the link to exactly this invitation.
    nonce = models.CharField(_("nonce"), max_length=32, unique=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    source_key = models.CharField(_("source key"), max_length=80)
    wave = models.ForeignKey(
        Wave, verbose_name=_("wave"), null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    skip_reason = models.CharField(_("why not sent"), max_length=10, choices=SkipReason.choices, blank=True)
    skip_detail = models.CharField(_("detail"), max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=10, default="pt-br")
    due_at = models.DateTimeField(_("send at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("link expires at"), null=True, blank=True)
    reminder_due_at = models.DateTimeField(_("reminder due at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    message = models.ForeignKey(
        "messaging.Message",
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reminder_message = models.ForeignKey(
        "messaging.Message",
        verbose_name=_("reminder"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        constraints = [
            models.UniqueConstraint(fields=["survey", "customer", "source_key"], name="invitation_unique_source"),
            models.CheckConstraint(condition=~Q(status="skipped") | ~Q(skip_reason=""), name="invitation_skip_reason"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="invitation_due_idx"),
            models.Index(fields=["status", "reminder_due_at"], name="invitation_reminder_idx"),
            models.Index(fields=["customer", "sent_at"], name="invitation_customer_sent_idx"),
            # metrics: invitations sent per day (response rate roll-up, today's live figure)
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="invitation_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer}"


class Response(models.Model):
    """The answer to one invitation. Answering again (same link) updates this row."""

    class Loop(models.TextChoices):
        NONE = "", _("No follow-up needed")
        OPEN = "open", _("Follow-up open")
        CLOSED = "closed", _("Loop closed")

    invitation = models.OneToOneField(
        Invitation, verbose_name=_("invitation"), on_delete=models.CASCADE, related_name="response"
    )
    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="responses")
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="survey_responses"
    )
    kind = models.CharField(_("type"), max_length=8, choices=Kind.choices)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    category = models.CharField(_("category"), max_length=12, choices=Category.choices, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    language = models.CharField(_("language"), max_length=10, default="pt-br")
    answered_at = models.DateTimeField(_("answered at"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    times_answered = models.PositiveSmallIntegerField(_("times answered"), default=1)
    # Set when an answer from the public page waits for its follow-up (close the loop, funnel,
    # events) to run in a worker; cleared by the one run that claims it.
    follow_up_due = models.BooleanField(_("follow-up waiting"), default=False)

    loop = models.CharField(_("follow-up"), max_length=8, choices=Loop.choices, blank=True, default="")
    loop_task = models.ForeignKey(
        "funnel.Task",
        verbose_name=_("follow-up task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    loop_note = models.TextField(_("follow-up note"), blank=True)
    loop_closed_at = models.DateTimeField(_("loop closed at"), null=True, blank=True)
    loop_closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("loop closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-answered_at", "-id"]
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=10), name="response_score_range"
            ),
            models.CheckConstraint(
                condition=~Q(kind="nps") | Q(score__gte=0, score__lte=10), name="response_nps_scale"
            ),
            models.CheckConstraint(
                condition=~Q(kind="csat") | Q(score__gte=1, score__lte=5), name="response_csat_scale"
            ),
            models.CheckConstraint(condition=~Q(kind="ces") | Q(score__gte=1, score__lte=7), name="response_ces_scale"),
            models.CheckConstraint(condition=~Q(kind="exit") | ~Q(reason=""), name="response_exit_has_reason"),
        ]
        indexes = [
            models.Index(fields=["survey", "-answered_at"], name="response_survey_idx"),
            models.Index(fields=["customer", "kind", "-answered_at"], name="response_customer_kind_idx"),
            models.Index(fields=["answered_at"], name="response_answered_idx"),  # metrics: answers per day
            models.Index(fields=["follow_up_due"], condition=Q(follow_up_due=True), name="response_follow_up_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score if self.score is not None else self.reason}"
