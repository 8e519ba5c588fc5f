"""Reputation review pages (/metrics/reviews/): the list (filters, sorting, pages, CSV export, the
period's reputation per source), add/edit/delete forms and the CSV upload with its per-row error
report. Thin: parse input, call metrics.reviews / metrics.queries.reputation, render.

Everyone with a CRM role sees, adds and uploads reviews; editing and deleting are for CS managers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from customers.forms import apply_service_errors
from customers.importer import ImportFileError
from customers.models import Customer
from posvenda.lists import Echo, csv_datetime, csv_safe, sort_links
from posvenda.web import crm_role_required

from . import reviews as services
from .filters import PRESETS, FilterError, KpiFilter, filter_from_params
from .models import Review
from .queries.reputation import reputation

PAGE_SIZE = 50
MAX_ERRORS_SHOWN = 500
SORTS = {
    "reviewed": ("reviewed_at", "id"),
    "rating": ("rating", "id"),
    "source": ("source", "reviewed_at", "id"),
}
SORT_COLUMNS = (
    ("reviewed", gettext_lazy("Date")),
    ("source", gettext_lazy("Source")),
    ("rating", gettext_lazy("Rating")),
)
DEFAULT_SORT = "-reviewed"
ALL_TIME = "all"


# --- forms -------------------------------------------------------------------------------------


class ReviewForm(forms.Form):
    source = forms.ChoiceField(label=gettext_lazy("Source"), choices=Review.Source.choices)
    rating = forms.DecimalField(
        label=gettext_lazy("Rating (0–5 stars)"),
        min_value=0,
        max_value=5,
        max_digits=4,
        decimal_places=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "5"}),
    )
    grade_10 = forms.DecimalField(
        label=gettext_lazy("Or a grade from 0 to 10"),
        min_value=0,
        max_value=10,
        max_digits=4,
        decimal_places=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.5", "min": "0", "max": "10"}),
        help_text=gettext_lazy("Reclame Aqui grades 0–10: it is halved (8 → 4.0 stars)."),
    )
    reviewed_at = forms.DateTimeField(
        label=gettext_lazy("Reviewed at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d"],
    )
    customer = forms.CharField(
        label=gettext_lazy("Customer"),
        required=False,
        max_length=254,
        help_text=gettext_lazy("The reviewer's external ID or e-mail, if they are a customer."),
    )
    author = forms.CharField(label=gettext_lazy("Author"), max_length=200, required=False)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200, required=False)
    text = forms.CharField(label=gettext_lazy("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    url = forms.URLField(label=gettext_lazy("Link"), max_length=500, required=False, assume_scheme="https")
    external_id = forms.CharField(
        label=gettext_lazy("External ID"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("The review's id at its source; imports and the API update it by this id."),
    )

    def __init__(self, *args: Any, review: Review | None = None, **kwargs: Any) -> None:
        if review is not None:
            kwargs.setdefault(
                "initial",
                {
                    "source": review.source,
                    "rating": review.rating,
                    "reviewed_at": timezone.localtime(review.reviewed_at),
                    "customer": (review.customer.external_id or review.customer.email) if review.customer else "",
                    "author": review.author,
                    "title": review.title,
                    "text": review.text,
                    "url": review.url,
                    "external_id": review.external_id or "",
                },
            )
        else:
            kwargs.setdefault("initial", {"reviewed_at": timezone.localtime().replace(second=0, microsecond=0)})
        super().__init__(*args, **kwargs)

    def clean_customer(self) -> Customer | None:
        value = self.cleaned_data["customer"].strip()
        if not value:
            return None
        customer = (
            Customer.objects.filter(Q(external_id=value) | (Q(email__iexact=value) & ~Q(email="")))
            .order_by("id")
            .first()
        )
        if customer is None:
            raise ValidationError(_("No customer has this external ID or e-mail."))
        return customer

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("rating") is None and data.get("grade_10") is None and "rating" not in self.errors:
            self.add_error("rating", _("Give a rating from 0 to 5 stars, or a 0–10 grade."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("grade_10") is None:
            data.pop("grade_10", None)
        else:
            data.pop("rating", None)  # the grade wins; the service checks both when both are given
        return data


class ReviewUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8 or Latin-1, separated by comma or semicolon; at most 5 MB."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > services.MAX_IMPORT_BYTES:
            raise ValidationError(_("The file is larger than 5 MB: split it, or send the reviews over the API."))
        return upload


# --- list and export ---------------------------------------------------------------------------


def _list_filters(request: HttpRequest) -> dict[str, Any]:
    """The list's filters from the query string: source, period (all time by default, a preset or a
    custom range — KpiFilter's rules, errors shown on the page), linked, search, sort."""
    get = request.GET
    period = get.get("period", "") or (("custom") if get.get("start") or get.get("end") else ALL_TIME)
    kpi: KpiFilter | None = None
    errors: dict[str, str] = {}
    if period != ALL_TIME:
        try:
            kpi = filter_from_params({"period": period, "start": get.get("start"), "end": get.get("end")})
        except FilterError as exc:
            errors = exc.errors
    source = get.get("source", "")
    linked = get.get("linked", "")
    sort = get.get("sort", DEFAULT_SORT)
    return {
        "period": period if period in PRESETS or period == ALL_TIME else ALL_TIME,
        "start": get.get("start", ""),
        "end": get.get("end", ""),
        "kpi": kpi,
        "errors": errors,
        "source": source if source in Review.Source.values else "",
        "linked": linked if linked in ("yes", "no") else "",
        "search": get.get("q", "").strip()[:200],
        "sort": sort if sort.lstrip("-") in SORTS else DEFAULT_SORT,
    }


def review_list_queryset(filters: dict[str, Any]) -> QuerySet[Review]:
    qs = Review.objects.select_related("customer")
    if kpi := filters["kpi"]:
        qs = qs.filter(reviewed_at__gte=kpi.start_dt, reviewed_at__lt=kpi.end_dt)
    if filters["source"]:
        qs = qs.filter(source=filters["source"])
    if filters["linked"]:
        qs = qs.filter(customer__isnull=filters["linked"] == "no")
    if search := filters["search"]:
        qs = qs.filter(
            Q(author__icontains=search)
            | Q(title__icontains=search)
            | Q(text__icontains=search)
            | Q(external_id=search)
            | Q(customer__name__icontains=search)
        )
    sort = filters["sort"]
    columns = SORTS[sort.lstrip("-")]
    return qs.order_by(*(f"-{c}" if sort.startswith("-") else c for c in columns))


def _summary_filter(filters: dict[str, Any], first: date | None) -> KpiFilter | None:
    """The period the reputation summary covers: the chosen one, or all time (from the first review)."""
    if filters["kpi"] is not None:
        return filters["kpi"]
    if first is None:
        return None
    return KpiFilter(start=first, end=max(timezone.localdate(), first))


@crm_role_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    filters = _list_filters(request)
    page = Paginator(review_list_queryset(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    first = Review.objects.order_by("reviewed_at").values_list("reviewed_at", flat=True).first()
    summary_filter = _summary_filter(filters, timezone.localdate(first) if first else None)
    summary = reputation(summary_filter) if summary_filter else None
    export_params = request.GET.copy()
    export_params.pop("page", None)
    context = {
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "reviews": page.object_list,
        "filters": filters,
        "params": request.GET,
        "sort_links": sort_links(request, filters["sort"], SORT_COLUMNS),
        "sources": Review.Source.choices,
        "presets": [(ALL_TIME, _("All time")), *PRESETS.items()],
        "summary": summary,
        "summary_sources": [s for s in summary.sources if s.count] if summary else [],
        "summary_filter": summary_filter,
        "export_query": export_params.urlencode(),
        "filtered": any(request.GET.get(k) for k in ("q", "source", "period", "start", "end", "linked")),
        "can_change": services.can_change(request.user),
    }
    return render(request, "metrics/review_list.html", context)


def _export_rows(reviews: QuerySet[Review]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8 and shows accents correctly
    yield writer.writerow(services.EXPORT_COLUMNS)
    for r in reviews.iterator(chunk_size=1000):
        row = [
            r.source,
            f"{r.rating:.1f}",
            csv_datetime(r.reviewed_at),
            r.author,
            r.title,
            r.text,
            r.url,
            r.external_id or "",
            (r.customer.external_id or "") if r.customer else "",
            r.customer.email if r.customer else "",
        ]
        yield writer.writerow([csv_safe(str(v)) for v in row])


@crm_role_required
@require_GET
def review_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered list as a CSV with the import's columns: it imports back unchanged."""
    reviews = review_list_queryset(_list_filters(request))
    response = StreamingHttpResponse(_export_rows(reviews), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reviews-{timezone.localdate():%Y%m%d}.csv"'
    return response


# --- add / edit / delete -----------------------------------------------------------------------


def _get_review(pk: int) -> Review:
    review = Review.objects.select_related("customer").filter(pk=pk).first()
    if review is None:
        raise Http404(_("No such review."))
    return review


def _require_can_change(request: HttpRequest) -> None:
    if not services.can_change(request.user):
        raise PermissionDenied(_("Only a CS manager can change or delete a review."))


@crm_role_required
@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest) -> HttpResponse:
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_create(actor=request.user, **form.service_kwargs())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Review recorded."))
            return redirect("metrics:review_list")
    return render(request, "metrics/review_form.html", {"form": form, "review": None})


@crm_role_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_can_change(request)
    review = _get_review(pk)
    form = ReviewForm(request.POST or None, review=review)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_update(actor=request.user, review=review, **form.service_kwargs())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Review saved."))
            return redirect("metrics:review_list")
    return render(request, "metrics/review_form.html", {"form": form, "review": review})


@crm_role_required
@require_http_methods(["GET", "POST"])
def review_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_can_change(request)
    review = _get_review(pk)
    if request.method == "POST":
        services.review_delete(actor=request.user, review=review)
        messages.success(request, _("Review deleted."))
        return redirect("metrics:review_list")
    return render(request, "metrics/review_confirm_delete.html", {"review": review})


# --- CSV upload --------------------------------------------------------------------------------


@crm_role_required
@require_http_methods(["GET", "POST"])
def review_import(request: HttpRequest) -> HttpResponse:
    """Upload a reviews CSV. It runs inside the request (a few thousand rows take well under a
    second) and the result — counts and every bad row — is shown right here."""
    form = ReviewUploadForm(request.POST or None, request.FILES or None)
    result: services.ReviewImportResult | None = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = services.review_import(actor=request.user, fh=upload.file)
        except ImportFileError as exc:
            form.add_error("file", str(exc))
    context = {
        "form": form,
        "result": result,
        "file_name": form.cleaned_data["file"].name if result else "",
        "errors_shown": result.errors[:MAX_ERRORS_SHOWN] if result else [],
        "errors_hidden": max(0, result.error_count - MAX_ERRORS_SHOWN) if result else 0,
        "columns": services.EXPORT_COLUMNS,
    }
    return render(request, "metrics/review_import.html", context)
