"""CS pages of the surveys app: list, create/edit, send (waves and one customer), results with
the comments list and CSV export, and a response with its follow-up. Thin: parse, call, render.
The public answer pages are in public_views.py."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import apply_service_errors
from customers.models import Customer
from customers.selectors import customer_search_q
from posvenda import roles
from posvenda.lists import Echo, csv_datetime, csv_safe, sort_links
from posvenda.web import crm_role_required, is_htmx

from . import selectors, services
from .forms import CloseLoopForm, CustomerSendForm, PeriodForm, ResponseFilterForm, SurveyForm, WaveForm
from .models import SCALES, Category, Invitation, Kind, Response, Survey, Wave

RESPONSES_PAGE_SIZE = 25
SURVEYS_PAGE_SIZE = 50
CUSTOMER_SEARCH_LIMIT = 20
SORT_COLUMNS = (
    ("name", gettext_lazy("Survey")),
    ("kind", gettext_lazy("Type")),
    ("sent", gettext_lazy("Sent")),
    ("answered", gettext_lazy("Answered")),
    ("rate", gettext_lazy("Response rate")),
    ("created", gettext_lazy("Created")),
)
SORTS = {
    "name": ("name", "id"),
    "kind": ("kind", "name", "id"),
    "sent": ("sent_count", "id"),
    "answered": ("answered_count", "id"),
    "rate": (F("response_rate").asc(nulls_first=True), "id"),
    "created": ("created_at", "id"),
}
EXPORT_COLUMNS = (
    "response_id",
    "answered_at",
    "survey",
    "type",
    "customer_id",
    "customer",
    "owner",
    "score",
    "category",
    "reason",
    "comment",
    "times_answered",
    "follow_up",
    "follow_up_note",
    "loop_closed_at",
)
CATEGORY_ORDER = {
    Kind.NPS: (Category.DETRACTOR, Category.PASSIVE, Category.PROMOTER),
    Kind.CSAT: (Category.UNSATISFIED, Category.NEUTRAL, Category.SATISFIED),
    Kind.CES: (Category.DIFFICULT, Category.NEUTRAL, Category.EASY),
}


def _require_manager(request: HttpRequest) -> None:
    roles.require_manager(request.user, _("Only a CS manager can create or change surveys."))


def _survey_or_404(pk: int) -> Survey:
    survey = Survey.objects.select_related("segment").filter(pk=pk).first()
    if survey is None:
        raise Http404(_("No such survey."))
    return survey


# --- list --------------------------------------------------------------------------------------


@crm_role_required
@require_GET
def survey_list(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in Kind.values else ""
    active = request.GET.get("active", "")
    active = active if active in ("yes", "no") else ""
    search = request.GET.get("q", "").strip()[:200]
    sort = request.GET.get("sort", "-created")
    if sort.lstrip("-") not in SORTS:
        sort = "-created"
    qs = selectors.survey_list()
    if kind:
        qs = qs.filter(kind=kind)
    if active:
        qs = qs.filter(is_active=active == "yes")
    if search:
        qs = qs.filter(name__icontains=search)
    qs = qs.order_by(*_ordering(sort))
    page = Paginator(qs, SURVEYS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for survey in rows:
        survey.score = selectors.survey_score(survey)
        survey.rate = _rate(survey.answered_count, survey.sent_count)
    context = {
        "page": page,
        "survey_rows": rows,
        "kinds": Kind.choices,
        "filters": {"kind": kind, "active": active, "search": search, "sort": sort},
        "filtered": bool(kind or active or search),
        "sort_links": sort_links(request, sort, SORT_COLUMNS),
        "is_manager": roles.is_manager(request.user),
    }
    return render(request, "surveys/list.html", context)


def _ordering(sort: str) -> list[Any]:
    descending = sort.startswith("-")
    ordering: list[Any] = []
    for item in SORTS[sort.lstrip("-")]:
        if isinstance(item, str):
            ordering.append(f"-{item}" if descending else item)
        else:  # an OrderBy expression: flip it, keeping "no rate yet" at the end when descending
            ordering.append(F("response_rate").desc(nulls_last=True) if descending else item)
    return ordering


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


# --- create / edit -----------------------------------------------------------------------------


def _survey_form_page(request: HttpRequest, survey: Survey | None) -> HttpResponse:
    _require_manager(request)
    if request.method == "POST":
        form = SurveyForm(request.POST, instance=survey)
        if form.is_valid():
            try:
                if survey is None:
                    saved = services.survey_create(actor=request.user, **form.service_fields())
                    messages.success(request, _("Survey “%(name)s” created.") % {"name": saved.name})
                else:
                    saved = services.survey_update(actor=request.user, survey=survey, **form.service_fields())
                    messages.success(request, _("Survey “%(name)s” saved.") % {"name": saved.name})
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("surveys:results", pk=saved.pk)
    else:
        # htmx re-renders the wording with the placeholders of another type (the typed text is kept).
        initial = request.GET.dict() if is_htmx(request) else None
        form = SurveyForm(instance=survey, initial=initial)
    context = {"form": form, "survey": survey, "title": survey.name if survey else ""}
    if survey is not None:
        # The page title keeps the saved name while the form shows what was typed.
        context["title"] = Survey.objects.filter(pk=survey.pk).values_list("name", flat=True).first()
    return render(request, "surveys/form.html", context, status=400 if form.errors else 200)


@crm_role_required
@require_http_methods(["GET", "POST"])
def survey_create(request: HttpRequest) -> HttpResponse:
    return _survey_form_page(request, None)


@crm_role_required
@require_http_methods(["GET", "POST"])
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _survey_form_page(request, _survey_or_404(pk))


# --- send --------------------------------------------------------------------------------------


def _customer_matches(request: HttpRequest, term: str, chosen: list[int]) -> list[Customer]:
    """The chosen customers first (ticked), then up to 20 more matching ``term``. Agents see theirs."""
    qs = Customer.objects.only("id", "name", "email", "owner_id", "stage")
    if not roles.is_manager(request.user):
        qs = qs.filter(owner=request.user)
    picked = list(qs.filter(pk__in=chosen).order_by("name", "id")) if chosen else []
    found: list[Customer] = []
    if term:
        lookup = customer_search_q(term)
        if term.lstrip("#").isdigit():
            from django.db.models import Q

            lookup |= Q(pk=int(term.lstrip("#")))
        found = list(qs.filter(lookup).exclude(pk__in=chosen).order_by("name", "id")[:CUSTOMER_SEARCH_LIMIT])
    return picked + found


def _chosen_ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.isdigit()})


def _wave_context(wave: Wave) -> dict[str, Any]:
    handled = wave.invited + wave.skipped
    percent = (
        100 if wave.status == Wave.Status.DONE else (min(100, round(handled * 100 / wave.total)) if wave.total else 0)
    )
    return {"wave": wave, "percent": percent, "polling": wave.status != Wave.Status.DONE}


@crm_role_required
@require_http_methods(["GET", "POST"])
def survey_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a survey to chosen customers, a segment or everyone; htmx GETs fetch customer search
    results (``?search=``) and a wave's progress (``?wave=``)."""
    survey = _survey_or_404(pk)
    is_manager = roles.is_manager(request.user)
    if request.method == "GET" and request.GET.get("wave", "").isdigit():
        wave = Wave.objects.filter(pk=int(request.GET["wave"]), survey=survey).first()
        if wave is None:
            raise Http404(_("Not found."))
        return render(request, "surveys/_wave_progress.html", {"survey": survey, **_wave_context(wave)})
    data = request.POST if request.method == "POST" else request.GET
    chosen = _chosen_ids(data.getlist("customers"))
    term = data.get("search", "").strip()[:200]
    matches = _customer_matches(request, term, chosen)
    if request.method == "GET" and is_htmx(request) and "search" in request.GET:
        return render(
            request,
            "surveys/_customer_picker.html",
            {"matches": matches, "chosen": chosen, "term": term, "searched": bool(term)},
        )
    choices = [(c.pk, c.name) for c in matches]
    form = WaveForm(request.POST or None, is_manager=is_manager, customer_choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            target = form.cleaned_data["target"]
            try:
                wave = services.wave_create(
                    actor=request.user,
                    survey=survey,
                    segment=form.cleaned_data["segment"] if target == WaveForm.SEGMENT else None,
                    customer_ids=form.cleaned_data["customers"] if target == WaveForm.CUSTOMERS else None,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Sending started: “%(survey)s”.") % {"survey": survey.name})
                return redirect(f"{reverse('surveys:send', args=[survey.pk])}?sent={wave.pk}")
        status = 400
    waves = list(survey.waves.select_related("segment", "created_by")[:10])
    latest = next((w for w in waves if str(w.pk) == request.GET.get("sent", "")), None) or (
        waves[0] if waves and waves[0].status != Wave.Status.DONE else None
    )
    context = {
        "survey": survey,
        "form": form,
        "matches": matches,
        "chosen": chosen,
        "term": term,
        "searched": bool(term),
        "waves": waves,
        "latest": _wave_context(latest) if latest else None,
        "is_manager": is_manager,
    }
    return render(request, "surveys/send.html", context, status=status)


@crm_role_required
@require_POST
def send_to_customer(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The "send a survey" form of the customer 360 page: invite now and say what happened."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise Http404(_("No such customer."))
    if not roles.can_edit_customer(request.user, customer):
        raise PermissionDenied(_("You can only send surveys to the customers you own."))
    back = f"{reverse('customers:detail', args=[customer.pk])}#panel-surveys"
    form = CustomerSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Survey not sent: choose an active survey."))
        return redirect(back)
    survey = form.cleaned_data["survey"]
    invitation, created = services.invitation_create(
        actor=request.user, survey=survey, customer=customer, source=Invitation.Source.MANUAL
    )
    names = {"survey": survey.name, "customer": customer.name}
    if invitation.status == Invitation.Status.SKIPPED:
        reason = invitation.get_skip_reason_display()
        if invitation.skip_detail:
            reason = f"{reason}: {invitation.skip_detail}"
        messages.warning(
            request,
            _("“%(survey)s” was not sent to %(customer)s. %(reason)s.") % {**names, "reason": reason.rstrip(".")},
        )
    elif not created:
        messages.info(request, _("%(customer)s was already sent “%(survey)s” today; nothing was sent again.") % names)
    elif invitation.status == Invitation.Status.SCHEDULED:
        messages.success(request, _("“%(survey)s” will be sent to %(customer)s shortly.") % names)
    else:
        messages.success(request, _("“%(survey)s” sent to %(customer)s.") % names)
    return redirect(back)


# --- results -----------------------------------------------------------------------------------


def _period(request: HttpRequest) -> tuple[PeriodForm, Any, Any]:
    form = PeriodForm(request.GET or None)
    start, end = form.bounds() if form.is_bound else (None, None)
    return form, start, end


def _responses(request: HttpRequest, survey: Survey) -> tuple[ResponseFilterForm, PeriodForm, QuerySet[Response]]:
    period_form, start, end = _period(request)
    filter_form = ResponseFilterForm(request.GET or None, kind=survey.kind)
    qs = selectors.response_list(survey=survey, start=start, end=end, **filter_form.filters())
    return filter_form, period_form, qs


def _bars(counts: dict[str, int], kind: str) -> list[dict[str, Any]]:
    """The stacked category bar, low to high: one segment per category with its share."""
    total = sum(counts.values())
    bar = []
    for category in CATEGORY_ORDER.get(kind, ()):
        n = counts.get(category, 0)
        share = Decimal(n * 100) / Decimal(total) if total else Decimal(0)
        bar.append(
            {
                "key": category.value,
                "label": category.label,
                "count": n,
                "share": share.quantize(Decimal("0.1")),
                "width": f"{share:.2f}",
            }
        )
    return bar


def _distribution(results: selectors.Results) -> list[dict[str, Any]]:
    top = max((n for _, n in results.distribution), default=0)
    return [
        {
            "score": score,
            "count": n,
            "height": f"{(n * 100 / top) if top else 0:.1f}",
            "category": services.category_for(results.survey.kind, score),
        }
        for score, n in results.distribution
    ]


def _reasons(results: selectors.Results) -> list[dict[str, Any]]:
    total = sum(n for _, n in results.reasons)
    return [
        {"reason": reason, "count": n, "width": f"{n * 100 / total:.1f}", "share": _rate(n, total)}
        for reason, n in results.reasons
    ]


TREND_W, TREND_H, TREND_PAD_L, TREND_PAD_B, TREND_PAD_T = 960, 240, 40, 28, 20


def _trend_chart(results: selectors.Results) -> dict[str, Any] | None:
    """Coordinates of the monthly trend (inline SVG): answers as bars, the score as a line."""
    trend = results.trend
    if not trend:
        return None
    kind = results.survey.kind
    low, high = {Kind.NPS: (-100, 100), Kind.CSAT: (0, 100), Kind.CES: (1, 7)}.get(kind, (0, 1))
    plot_w = TREND_W - TREND_PAD_L - 8
    plot_h = TREND_H - TREND_PAD_T - TREND_PAD_B
    step = plot_w / len(trend)
    most = max(row["answered"] for row in trend) or 1
    points = []
    for i, row in enumerate(trend):
        x = TREND_PAD_L + step * i + step / 2
        # With a score line the bars take the lower half; alone (exit survey) the full height.
        bar_h = plot_h * (0.45 if kind != Kind.EXIT else 0.95) * row["answered"] / most
        score = row["score"]
        y = None
        if score is not None:
            y = TREND_PAD_T + plot_h * (1 - (float(score) - low) / (high - low))
        points.append(
            {
                "month": row["month"],
                "answered": row["answered"],
                "score": score,
                "x": f"{x:.1f}",
                "y": f"{y:.1f}" if y is not None else None,
                "bar_x": f"{x - min(step * 0.3, 18):.1f}",
                "bar_w": f"{min(step * 0.6, 36):.1f}",
                "bar_y": f"{TREND_PAD_T + plot_h - bar_h:.1f}",
                "bar_h": f"{bar_h:.1f}",
            }
        )
    ticks = [high, (high + low) / 2, low]
    grid = [{"label": f"{t:g}", "y": f"{TREND_PAD_T + plot_h * (1 - (t - low) / (high - low)):.1f}"} for t in ticks]
    return {
        "width": TREND_W,
        "height": TREND_H,
        "left": TREND_PAD_L,
        "right": TREND_W - 8,
        "label_y": TREND_H - 8,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points if p["y"] is not None),
        "grid": grid,
        "has_score": kind != Kind.EXIT,
    }


@crm_role_required
@require_GET
def survey_results(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    filter_form, period_form, responses = _responses(request, survey)
    _, start, end = _period(request)
    results = selectors.survey_results(survey=survey, start=start, end=end)
    page = Paginator(responses, RESPONSES_PAGE_SIZE).get_page(request.GET.get("page"))
    export_params = request.GET.copy()
    export_params.pop("page", None)
    filters = filter_form.filters()
    context = {
        "survey": survey,
        "results": results,
        "period_form": period_form,
        "period": period_form.cleaned_data.get("period", "all")
        if period_form.is_bound and period_form.is_valid()
        else "all",
        "filter_form": filter_form,
        "filtered": any(filters.values()),
        "page": page,
        "response_rows": list(page.object_list),
        "page_range": page.paginator.get_elided_page_range(page.number),
        "export_query": export_params.urlencode(),
        "bar": _bars(results.counts, survey.kind),
        "distribution": _distribution(results),
        "reasons": _reasons(results),
        "trend": _trend_chart(results),
        "scale": SCALES.get(survey.kind),
        "is_manager": roles.is_manager(request.user),
    }
    return render(request, "surveys/results.html", context)


def _export_rows(rows: QuerySet[Response]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8 and shows accents correctly
    yield writer.writerow(EXPORT_COLUMNS)
    for r in rows.iterator(chunk_size=1000):
        owner = r.customer.owner
        row = [
            r.pk,
            csv_datetime(r.answered_at),
            r.survey.name,
            r.kind,
            r.customer_id,
            r.customer.name,
            owner.username if owner else "",
            "" if r.score is None else r.score,
            r.category,
            r.reason,
            r.comment,
            r.times_answered,
            r.loop,
            r.loop_note,
            csv_datetime(r.loop_closed_at),
        ]
        # csv_safe("") would return "'" (an empty string counts as a "+-" prefix there).
        yield writer.writerow([csv_safe(str(v)) if str(v) else "" for v in row])


@crm_role_required
@require_GET
def responses_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The responses of the results page (same period and filters) as a streaming CSV."""
    survey = _survey_or_404(pk)
    _, _, rows = _responses(request, survey)
    response = StreamingHttpResponse(_export_rows(rows), content_type="text/csv; charset=utf-8")
    filename = f"survey-{survey.pk}-responses-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- one response and closing the loop -----------------------------------------------------------


def _response_or_404(pk: int) -> Response:
    response = (
        Response.objects.select_related(
            "survey",
            "customer",
            "customer__owner",
            "invitation",
            "invitation__created_by",
            "loop_task",
            "loop_task__owner",
            "loop_closed_by",
        )
        .filter(pk=pk)
        .first()
    )
    if response is None:
        raise Http404(_("No such response."))
    return response


def _render_response(request: HttpRequest, response: Response, form: CloseLoopForm | None = None) -> HttpResponse:
    can_close = roles.can_edit_customer(request.user, response.customer)
    invitation = response.invitation
    timeline = [
        (invitation.created_at, _("Invitation created (%(source)s)") % {"source": invitation.get_source_display()}),
    ]
    if invitation.sent_at:
        timeline.append((invitation.sent_at, _("E-mail sent")))
    if invitation.reminded_at:
        timeline.append((invitation.reminded_at, _("Reminder sent")))
    timeline.append((response.answered_at, _("Answered") if response.times_answered == 1 else _("Last answered")))
    if response.loop_closed_at:
        timeline.append((response.loop_closed_at, _("Loop closed")))
    context = {
        "response": response,
        "survey": response.survey,
        "customer": response.customer,
        "invitation": invitation,
        "timeline": timeline,
        "can_close": can_close,
        "tickets": list(response.tickets.order_by("-opened_at")),
        "form": form if form is not None else (CloseLoopForm() if can_close else None),
        "scale": SCALES.get(response.kind),
    }
    return render(request, "surveys/response.html", context, status=400 if form is not None and form.errors else 200)


@crm_role_required
@require_GET
def response_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_response(request, _response_or_404(pk))


@crm_role_required
@require_POST
def response_close_loop(request: HttpRequest, pk: int) -> HttpResponse:
    response = _response_or_404(pk)
    if not roles.can_edit_customer(request.user, response.customer):
        raise PermissionDenied(_("Only the customer's owner or a CS manager can close the loop."))
    form = CloseLoopForm(request.POST)
    if form.is_valid():
        try:
            services.response_close_loop(actor=request.user, response=response, note=form.cleaned_data["note"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Loop closed: the follow-up is recorded on the customer's timeline."))
            return redirect("surveys:response", pk=response.pk)
    return _render_response(request, response, form)
