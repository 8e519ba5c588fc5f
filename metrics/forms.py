"""The dashboard's filter form: period (presets or custom dates), segment, owner (managers only) and
customer kind. The rules live in metrics.filters.filter_from_params, used unchanged by the page, the
CSV downloads and the API; this form only renders the choices and shows that function's errors
next to the fields they are about."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.forms import OwnerChoiceField, role_users
from customers.models import Customer, Segment

from .filters import PRESETS, FilterError, KpiFilter, filter_from_params

FIELDS = ("period", "start", "end", "segment", "owner", "kind")


class DateInput(forms.DateInput):
    input_type = "date"

    def format_value(self, value: Any) -> str | None:
        # The browser's date input wants ISO dates whatever the page language.
        return value.isoformat() if hasattr(value, "isoformat") else value


class DashboardFilterForm(forms.Form):
    """Bound to the query string. Fields are plain (no per-field validation of their own) so that each
    bad parameter gets exactly one message: the one filter_from_params gives the page and the API."""

    period = forms.CharField(
        label=_("Period"), required=False, widget=forms.Select(choices=[(k, v) for k, v in PRESETS.items()])
    )
    start = forms.CharField(label=_("From"), required=False, widget=DateInput())
    end = forms.CharField(label=_("To"), required=False, widget=DateInput())
    segment = forms.CharField(label=_("Segment"), required=False, widget=forms.Select())
    owner = forms.CharField(label=_("Owner"), required=False, widget=forms.Select())
    kind = forms.CharField(
        label=_("Customer kind"),
        required=False,
        widget=forms.Select(choices=[("", _("All kinds")), *Customer.Kind.choices]),
    )

    def __init__(self, data: Any, *, forced_owner_id: int | None = None) -> None:
        """``forced_owner_id``: an agent's own book — the owner selector is left out and any owner
        parameter in the query string is ignored."""
        self.forced_owner_id = forced_owner_id
        self.kpi_filter: KpiFilter | None = None
        super().__init__(data)
        self.fields["segment"].widget.choices = [("", _("All segments"))] + [
            (str(pk), name) for pk, name in Segment.objects.values_list("pk", "name")
        ]
        if forced_owner_id is not None:
            del self.fields["owner"]
        else:
            label = OwnerChoiceField(queryset=None).label_from_instance
            self.fields["owner"].widget.choices = [("", _("All owners"))] + [
                (str(user.pk), label(user)) for user in role_users()
            ]

    def clean(self) -> dict[str, Any]:
        try:
            self.kpi_filter = filter_from_params(self.data, owner_id=self.forced_owner_id)
        except FilterError as exc:
            for name, message in exc.errors.items():
                self.add_error(name if name in self.fields else None, message)
        return self.cleaned_data

    def resolve(self) -> KpiFilter | None:
        """The filter, or None with the errors on the form. After a valid query the form shows the
        effective period (a preset's dates filled in) so the reader sees which days the figures
        cover; after errors it shows what they typed."""
        if not self.is_valid() or self.kpi_filter is None:
            return None
        f = self.kpi_filter
        self.data = {
            "period": f.preset,
            "start": f.start.isoformat(),
            "end": f.end.isoformat(),
            "segment": str(f.segment_id or ""),
            "owner": "" if self.forced_owner_id is not None else str(f.owner_id or ""),
            "kind": f.kind or "",
        }
        return f
