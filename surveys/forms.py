"""Forms for the survey pages. They validate input; the views hand cleaned data to services."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Segment

from . import services
from .models import Category, Kind, Survey

WORDING_FIELDS = ("subject", "intro", "question", "follow_up", "exit_reasons")

# Field groups of the survey form, in page order: (legend, help, fields).
SURVEY_GROUPS: tuple[tuple[Any, Any, tuple[str, ...]], ...] = (
    (_("Survey"), "", ("name", "kind", "is_active")),
    (
        _("Sending"),
        _("Surveys can always be sent by hand, to a segment or from a customer's page."),
        ("trigger", "trigger_days", "segment"),
    ),
    (
        _("Links, reminder and survey fatigue"),
        "",
        ("link_valid_days", "reminder_after_days", "fatigue_days", "quiet_days_after_ticket"),
    ),
    (
        _("Closing the loop"),
        _("A detractor is an NPS answer from 0 to 6 or a CSAT answer of 1 or 2; a promoter is NPS 9 or 10."),
        ("detractor_task", "detractor_task_days", "detractor_ticket", "promoter_to_funnel"),
    ),
)


class SurveyForm(forms.ModelForm):
    """Every field of a survey; the built-in wording of the chosen type shows as placeholder."""

    class Meta:
        model = Survey
        fields = services.SURVEY_FIELDS
        widgets = {
            "intro_pt_br": forms.Textarea(attrs={"rows": 3}),
            "intro_en": forms.Textarea(attrs={"rows": 3}),
            "exit_reasons_pt_br": forms.Textarea(attrs={"rows": 5}),
            "exit_reasons_en": forms.Textarea(attrs={"rows": 5}),
            "question_pt_br": forms.Textarea(attrs={"rows": 2}),
            "question_en": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "intro_pt_br": _("You may use {first_name} and {name}."),
            "intro_en": _("You may use {first_name} and {name}."),
        }

    def __init__(self, *args: Any, kind: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        self.fields["segment"].empty_label = _("All customers")
        for name in (
            "trigger_days",
            "link_valid_days",
            "reminder_after_days",
            "fatigue_days",
            "quiet_days_after_ticket",
            "detractor_task_days",
        ):
            self.fields[name].widget.attrs.update({"min": 0, "inputmode": "numeric"})
        self.set_placeholders(kind or self._current_kind())

    def _current_kind(self) -> str:
        value = self["kind"].value()
        return value if value in Kind.values else Kind.NPS

    def set_placeholders(self, kind: str) -> None:
        """The built-in wording of ``kind`` in each language, shown where the custom text is empty."""
        for suffix, language in (("pt_br", "pt-br"), ("en", "en")):
            texts = services.survey_texts(survey=Survey(kind=kind, ask_follow_up=True), language=language)
            texts["exit_reasons"] = "\n".join(texts["reasons"])
            for name in WORDING_FIELDS:
                self.fields[f"{name}_{suffix}"].widget.attrs["placeholder"] = texts[name]

    def groups(self) -> list[dict[str, Any]]:
        return [
            {"legend": legend, "help": help_text, "fields": [self[name] for name in names]}
            for legend, help_text, names in SURVEY_GROUPS
        ]

    def wording_rows(self) -> list[tuple[Any, Any]]:
        """(Portuguese field, English field) per text, side by side on the page; the exit reasons
        only for an exit survey (hidden_wording keeps their values otherwise)."""
        names = WORDING_FIELDS if self._current_kind() == Kind.EXIT else WORDING_FIELDS[:-1]
        return [(self[f"{name}_pt_br"], self[f"{name}_en"]) for name in names]

    def hidden_wording(self) -> list[Any]:
        if self._current_kind() == Kind.EXIT:
            return []
        return [self["exit_reasons_pt_br"], self["exit_reasons_en"]]

    def _post_clean(self) -> None:
        # The services validate the survey (and say which field to fix); skip the model's own
        # full_clean here so an error is reported once, in the service's words.
        pass

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in services.SURVEY_FIELDS}


# --- sending -------------------------------------------------------------------------------------


class WaveForm(forms.Form):
    """Send a survey to a segment, to chosen customers, or (managers) to every customer."""

    SEGMENT, CUSTOMERS, EVERYONE = "segment", "customers", "all"

    target = forms.ChoiceField(
        label=_("Send to"),
        widget=forms.RadioSelect,
        choices=[
            ("customers", _("Chosen customers")),
            ("segment", _("A segment")),
            ("all", _("All customers")),
        ],
        initial="customers",
    )
    segment = forms.ModelChoiceField(
        label=_("Segment"),
        queryset=Segment.objects.none(),
        required=False,
        empty_label=_("Choose a segment"),
        help_text=_("Only when sending to a segment."),
    )
    customers = forms.TypedMultipleChoiceField(label=_("Customers"), coerce=int, required=False)

    def __init__(self, *args: Any, is_manager: bool = False, customer_choices: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_manager = is_manager
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        # Any id is accepted here; the service checks that the customers exist and may be surveyed.
        self.fields["customers"].choices = list(customer_choices)
        self.fields["customers"].valid_value = lambda value: str(value).isdigit()  # type: ignore[method-assign]
        if not is_manager:
            self.fields["target"].choices = [("customers", _("Chosen customers"))]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        target = data.get("target")
        if target == self.SEGMENT and not data.get("segment"):
            self.add_error("segment", _("Choose the segment to survey."))
        if target == self.CUSTOMERS and not data.get("customers"):
            self.add_error("customers", _("Search for customers and tick at least one."))
        return data


class CustomerSendForm(forms.Form):
    """The "send a survey" form of the customer 360 page."""

    survey = forms.ModelChoiceField(
        label=_("Survey"),
        queryset=Survey.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": _("Choose an active survey.")},
    )

    def __init__(self, *args: Any, surveys: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survey"].queryset = (
            surveys if surveys is not None else Survey.objects.filter(is_active=True).order_by("name")
        )


# --- results and responses -----------------------------------------------------------------------


class PeriodForm(forms.Form):
    """The period of the results page: a preset (last 30/90/365 days), all time, or custom dates."""

    PRESETS = {"30": 30, "90": 90, "365": 365}

    period = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[
            ("all", _("All time")),
            ("30", _("Last 30 days")),
            ("90", _("Last 90 days")),
            ("365", _("Last 12 months")),
            ("custom", _("Custom dates")),
        ],
    )
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        period = data.get("period") or ("custom" if data.get("start") or data.get("end") else "all")
        data["period"] = period
        start, end = data.get("start"), data.get("end")
        if period == "custom" and start and end and start > end:
            self.add_error("end", _("The end date must be on or after the start date."))
        return data

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) as aware datetimes, end exclusive; (None, None) for all time or bad input."""
        if not self.is_valid():
            return None, None
        period = self.cleaned_data["period"]
        if period in self.PRESETS:
            today = timezone.localdate()
            return _midnight(today - timedelta(days=self.PRESETS[period] - 1)), None
        if period == "custom":
            start, end = self.cleaned_data.get("start"), self.cleaned_data.get("end")
            return (_midnight(start) if start else None, _midnight(end + timedelta(days=1)) if end else None)
        return None, None


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


LOOP_FILTERS = (
    ("open", _("Follow-up open")),
    ("closed", _("Loop closed")),
)


class ResponseFilterForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), required=False)
    loop = forms.ChoiceField(label=_("Follow-up"), required=False, choices=[("", _("All")), *LOOP_FILTERS])
    q = forms.CharField(label=_("Search"), required=False, max_length=200)

    def __init__(self, *args: Any, kind: str = Kind.NPS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        categories = {
            Kind.NPS: (Category.PROMOTER, Category.PASSIVE, Category.DETRACTOR),
            Kind.CSAT: (Category.SATISFIED, Category.NEUTRAL, Category.UNSATISFIED),
            Kind.CES: (Category.EASY, Category.NEUTRAL, Category.DIFFICULT),
        }.get(kind, ())
        self.fields["category"].choices = [("", _("All")), *((c.value, c.label) for c in categories)]
        self.fields["q"].widget.attrs["placeholder"] = _("Comment, customer or reason")

    def filters(self) -> dict[str, str]:
        if not self.is_valid():
            return {"category": "", "loop": "", "search": ""}
        data = self.cleaned_data
        return {"category": data["category"], "loop": data["loop"], "search": data["q"].strip()}


class CloseLoopForm(forms.Form):
    note = forms.CharField(
        label=_("What did you do?"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("E.g. Called the customer, offered a replacement.")}),
        error_messages={"required": _("Say what you did to follow up.")},
    )
