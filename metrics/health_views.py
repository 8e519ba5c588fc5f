"""Health-score pages: the at-risk list (with CSV), the settings page (managers edit, agents read)
and the owner's rating form posted from the customer 360 panel. Thin: parse, call, render."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from customers.forms import role_users
from customers.models import Customer, Segment
from posvenda import roles
from posvenda.lists import Echo, csv_datetime, csv_safe
from posvenda.web import crm_role_required, int_param, is_htmx

from . import health
from .models import HealthBand, HealthConfig, HealthScore

PAGE_SIZE = 50


class HealthConfigForm(forms.Form):
    """Weights (relative, 0–100 each) and band limits; the service checks the cross-field rules."""

    weight_survey = forms.IntegerField(label=gettext_lazy("Latest NPS/CSAT"), min_value=0, max_value=100)
    weight_tickets = forms.IntegerField(label=gettext_lazy("Open and breached tickets"), min_value=0, max_value=100)
    weight_purchases = forms.IntegerField(label=gettext_lazy("Purchases or contract"), min_value=0, max_value=100)
    weight_engagement = forms.IntegerField(label=gettext_lazy("E-mail engagement"), min_value=0, max_value=100)
    weight_manual = forms.IntegerField(label=gettext_lazy("Owner's rating"), min_value=0, max_value=100)
    red_below = forms.IntegerField(
        label=gettext_lazy("Red (at risk) below"),
        min_value=1,
        max_value=100,
        help_text=gettext_lazy("A score under this is red."),
    )
    green_from = forms.IntegerField(
        label=gettext_lazy("Green (healthy) from"),
        min_value=1,
        max_value=100,
        help_text=gettext_lazy("A score of this or more is green; between the two, yellow."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("inputmode", "numeric")

    def clean(self) -> dict[str, Any]:
        # The service's cross-field rules too, so one submit shows every problem at once.
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name) for name in self.fields}
        for field, messages_ in health.health_config_errors(values).items():
            if field not in self.errors and values.get(field) is not None:
                self.add_error(field, messages_)
        return cleaned

    @property
    def weight_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in health.WEIGHT_FIELDS.values()]

    @property
    def band_fields(self) -> list[forms.BoundField]:
        return [self["red_below"], self["green_from"]]


def _config_initial(config: HealthConfig) -> dict[str, int]:
    return {name: getattr(config, name) for name in [*health.WEIGHT_FIELDS.values(), "red_below", "green_from"]}


@crm_role_required
def health_settings(request: HttpRequest) -> HttpResponse:
    """Managers edit weights and bands (per-field errors); agents see the same page read-only and
    are refused a save (403)."""
    config = health.health_config_get()
    can_edit = roles.is_manager(request.user)
    form = HealthConfigForm(initial=_config_initial(config))
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("Only a CS manager can change the health score settings."))
        form = HealthConfigForm(request.POST)
        if form.is_valid():
            try:
                health.health_config_save(actor=request.user, values=form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Health score settings saved. Every score is being recomputed."))
                return redirect("metrics:health_settings")
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    weights = {name: getattr(config, field) for name, field in health.WEIGHT_FIELDS.items()}
    total = sum(weights.values()) or 1
    return render(
        request,
        "metrics/health_settings.html",
        {
            "form": form,
            "config": config,
            "can_edit": can_edit,
            "counts": health.health_band_counts(),
            "weights": [(health.MEASURE_LABELS[name], w, round(100 * w / total, 1)) for name, w in weights.items()],
        },
    )


def _list_filters(request: HttpRequest) -> dict[str, Any]:
    band = request.GET.get("band", "")
    owner_param = request.GET.get("owner", "")
    owner: Any = None
    if owner_param == "mine":
        owner = request.user.pk
    elif owner_param == "none":
        owner = "none"
    else:
        owner = int_param(owner_param)
    return {
        "band": band if band in HealthBand.values else "",
        "owner": owner,
        "segment": int_param(request.GET.get("segment")),
    }


@crm_role_required
def health_list(request: HttpRequest) -> HttpResponse:
    """Customers by health, the lowest score first; filter by band, owner and segment."""
    filters = _list_filters(request)
    page = Paginator(health.health_score_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    counts = health.health_band_counts(owner=filters["owner"], segment=filters["segment"])
    return render(
        request,
        "metrics/health_list.html",
        {
            "page": page,
            "scores": page.object_list,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "filters": filters,
            "params": request.GET,
            "owner_param": request.GET.get("owner", ""),
            "bands": HealthBand.choices,
            "counts": counts,
            "total": sum(counts.values()),
            "owners": list(role_users()),
            "segments": list(Segment.objects.all()),
            "export_query": params.urlencode(),
            "filtered": any(request.GET.get(k) for k in ("band", "owner", "segment")),
        },
    )


EXPORT_COLUMNS = ("customer_id", "external_id", "customer", "owner", "score", "band", "pulled_down", "computed_at")


def _export_rows(scores: QuerySet[HealthScore]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for s in scores.iterator(chunk_size=2000):
        owner = s.customer.owner
        yield writer.writerow(
            [
                s.customer_id,
                csv_safe(s.customer.external_id or ""),
                csv_safe(s.customer.name),
                csv_safe(owner.username if owner else ""),
                s.score,
                s.band,
                " ".join(c["measure"] for c in health.pulled_down(s.components)),
                csv_datetime(s.computed_at),
            ]
        )


@crm_role_required
def health_export(request: HttpRequest) -> StreamingHttpResponse:
    scores = health.health_score_list(**_list_filters(request))
    response = StreamingHttpResponse(_export_rows(scores), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="health-scores-{stamp}.csv"'
    return response


@require_POST
@crm_role_required
def health_rating(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The owner's (or a manager's) rating from the 360 panel; htmx swaps the panel in place."""
    try:
        customer = Customer.objects.select_related("owner").get(pk=customer_id)
    except Customer.DoesNotExist:
        raise Http404(_("No such customer.")) from None
    raw = request.POST.get("rating", "").strip()
    rating = int(raw) if raw.isdigit() else None
    if raw and rating is None:
        rating = -1  # not a number: let the service say what is allowed
    try:
        health.health_rating_set(actor=request.user, customer=customer, rating=rating)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if not is_htmx(request):
            messages.success(request, _("Rating saved; the health score was recomputed."))
    if is_htmx(request):
        customer = Customer.objects.select_related("owner", "health").get(pk=customer_id)
        return render(request, "metrics/health_panel_fragment.html", {"customer": customer})
    return redirect(reverse("customers:detail", args=[customer_id]) + "#health")
