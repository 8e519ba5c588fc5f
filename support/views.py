"""CS pages of the support app: the queue, a new ticket, the ticket page (conversation, reply and
change, in place with htmx), reports (TMR, first response, % SLA met) and the SLA policies page.
Thin: parse input, call selectors/services, render."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import apply_service_errors, role_users
from customers.models import Customer
from customers.selectors import customer_search_q
from funnel.models import Priority
from posvenda import roles
from posvenda.lists import Echo, csv_datetime, csv_safe, sort_links
from posvenda.templatetags.people import person
from posvenda.web import crm_role_required, int_param, is_htmx

from . import selectors, services
from .calendar import national_holidays
from .forms import ChangeForm, HolidayForm, QueueFilterForm, ReplyForm, ReportForm, SlaPolicyForm, TicketForm
from .models import Holiday, SlaPolicy, Team, Ticket, TicketEvent, WorkingHours
from .templatetags.support_tags import duration, ticket_timer

PAGE_SIZE = 50
CUSTOMER_SEARCH_LIMIT = 20
PRIORITY_RANK = Case(
    When(priority=Priority.URGENT, then=Value(4)),
    When(priority=Priority.HIGH, then=Value(3)),
    When(priority=Priority.NORMAL, then=Value(2)),
    default=Value(1),
    output_field=IntegerField(),
)
SORT_COLUMNS = (
    ("number", gettext_lazy("#")),
    ("subject", gettext_lazy("Subject")),
    ("customer", gettext_lazy("Customer")),
    ("priority", gettext_lazy("Priority")),
    ("status", gettext_lazy("Status")),
    ("assignee", gettext_lazy("Assignee")),
    ("due", gettext_lazy("SLA")),
    ("opened", gettext_lazy("Opened")),
)
SORTS: dict[str, tuple[Any, ...]] = {
    "number": ("id",),
    "subject": ("subject", "id"),
    "customer": ("customer__name", "id"),
    "priority": ("priority_rank", "id"),
    "status": ("status", "id"),
    "assignee": ("assignee__username", "id"),
    "opened": ("opened_at", "id"),
}
DEFAULT_SORT = "due"
EXPORT_COLUMNS = (
    "number",
    "subject",
    "customer_id",
    "customer",
    "status",
    "priority",
    "channel",
    "category",
    "assignee",
    "team",
    "opened_at",
    "first_response_due_at",
    "first_response_at",
    "resolution_due_at",
    "resolved_at",
    "sla",
    "sla_state",
)
REPORT_COLUMNS = (
    "group",
    "resolved",
    "tmr_mean_hours",
    "tmr_median_hours",
    "tmr_business_mean_hours",
    "tmr_business_median_hours",
    "first_response_mean_hours",
    "first_response_median_hours",
    "first_response_business_mean_hours",
    "first_response_business_median_hours",
    "sla_tickets",
    "sla_met",
    "sla_met_pct",
)


def _require_manager(request: HttpRequest) -> None:
    roles.require_manager(request.user, _("Only a CS manager can see this page."))


# --- queue ---------------------------------------------------------------------------------------


def _queue(request: HttpRequest) -> tuple[QueueFilterForm, dict[str, Any], str, QuerySet[Ticket]]:
    """The filter form, the filters, the sort and the ordered queryset of the queue and its CSV."""
    form = QueueFilterForm(request.GET, users=list(role_users()), teams=list(Team.objects.all()))
    filters = form.filters()
    assignee = filters.pop("assignee")
    args: dict[str, Any] = {**filters}
    if assignee == "me":
        args["assignee_id"] = request.user.pk
    elif assignee == "unassigned":
        args["unassigned"] = True
    elif assignee:
        args["assignee_id"] = int(assignee)
    qs = selectors.ticket_queue(**args)
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort.lstrip("-") not in (*SORTS, DEFAULT_SORT):
        sort = DEFAULT_SORT
    key, descending = sort.lstrip("-"), sort.startswith("-")
    if key == DEFAULT_SORT:
        if descending:
            qs = qs.order_by(F("next_due_at").desc(nulls_last=True), "-id")
    else:
        if key == "priority":
            qs = qs.annotate(priority_rank=PRIORITY_RANK)
        qs = qs.order_by(*[f"-{f}" if descending else f for f in SORTS[key]])
    return form, {**filters, "assignee": assignee}, sort, qs


@crm_role_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    form, filters, sort, qs = _queue(request)
    if request.GET.get("export") == "csv":
        return _queue_export(qs)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    customer = (
        Customer.objects.filter(pk=filters["customer_id"]).only("id", "name").first()
        if filters["customer_id"]
        else None
    )
    export_params = request.GET.copy()
    export_params.pop("page", None)
    export_params["export"] = "csv"
    filtered = any(v for k, v in filters.items() if k != "status") or filters["status"] != "active"
    return render(
        request,
        "support/queue.html",
        {
            "form": form,
            "page": page,
            "tickets": page.object_list,
            "filters": filters,
            "filter_customer": customer,
            "filtered": filtered,
            "sort": sort,
            "sort_links": sort_links(request, sort, SORT_COLUMNS),
            "export_query": export_params.urlencode(),
            "page_range": page.paginator.get_elided_page_range(page.number),
            "now": timezone.now(),
            "is_manager": roles.is_manager(request.user),
        },
    )


def _queue_rows(rows: QuerySet[Ticket]) -> Iterator[str]:
    writer = csv.writer(Echo())
    now = timezone.now()
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8
    yield writer.writerow(EXPORT_COLUMNS)
    for t in rows.iterator(chunk_size=1000):
        timer = ticket_timer(t, now)
        row = [
            t.pk,
            t.subject,
            t.customer_id,
            t.customer.name,
            t.status,
            t.priority,
            t.channel,
            t.category,
            person(t.assignee),
            t.team.name if t.team else "",
            csv_datetime(t.opened_at),
            csv_datetime(t.first_response_due_at),
            csv_datetime(t.first_response_at),
            csv_datetime(t.resolution_due_at),
            csv_datetime(t.resolved_at),
            timer.text,
            timer.state,
        ]
        yield writer.writerow([csv_safe(str(v)) for v in row])


def _queue_export(qs: QuerySet[Ticket]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_queue_rows(qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tickets-{timezone.localdate():%Y%m%d}.csv"'
    return response


# --- new ticket ----------------------------------------------------------------------------------


def _survey_prefill(response: Any) -> dict[str, Any]:
    """A ticket from a survey answer: "NPS 3 — <customer>", the comment as the description."""
    from surveys.services import answer_ticket_texts

    customer = response.customer
    subject, description = answer_ticket_texts(response)
    initial = {
        "customer": customer.pk,
        "channel": Ticket.Channel.SURVEY,
        "subject": subject,
        "description": description,
        "survey_response": response.pk,
    }
    if response.category in ("detractor", "unsatisfied", "difficult"):
        initial["priority"] = Priority.HIGH
    return initial


@crm_role_required
@require_http_methods(["GET", "POST"])
def ticket_create(request: HttpRequest) -> HttpResponse:
    from surveys.models import Response

    source = request.POST if request.method == "POST" else request.GET
    survey_response = None
    response_id = int_param(source.get("survey_response"))
    if response_id:
        survey_response = Response.objects.select_related("customer", "survey").filter(pk=response_id).first()
        if survey_response is None:
            raise Http404(_("No such survey answer."))
        existing = Ticket.objects.filter(source_key=f"survey-response:{survey_response.pk}").first()
        if existing is not None:
            messages.info(request, _("A ticket is already open for this survey answer."))
            return redirect("support:detail", pk=existing.pk)
    customer_id = survey_response.customer_id if survey_response else int_param(source.get("customer"))
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
    can_assign = roles.is_manager(request.user)

    if customer is None:
        return _customer_picker(request)

    if request.method == "POST":
        form = TicketForm(request.POST, customer=customer, can_assign=can_assign)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket, created = services.ticket_create(
                    actor=request.user,
                    customer=customer,
                    contact=data.get("contact"),
                    subject=data["subject"],
                    description=data["description"],
                    channel=data["channel"],
                    category=data["category"],
                    priority=data["priority"],
                    assignee=data.get("assignee"),
                    team=data.get("team"),
                    survey_response=survey_response,
                    source_key=f"survey-response:{survey_response.pk}" if survey_response else None,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                if created:
                    messages.success(request, _("Ticket #%(number)s opened.") % {"number": ticket.pk})
                else:
                    messages.info(request, _("A ticket is already open for this survey answer."))
                return redirect("support:detail", pk=ticket.pk)
    else:
        initial: dict[str, Any] = {"customer": customer.pk}
        if survey_response is not None:
            initial.update(_survey_prefill(survey_response))
        form = TicketForm(initial=initial, customer=customer, can_assign=can_assign)
    return render(
        request,
        "support/create.html",
        {"form": form, "customer": customer, "survey_response": survey_response},
    )


def _customer_picker(request: HttpRequest) -> HttpResponse:
    term = request.GET.get("customer_q", "").strip()[:200]
    matches = (
        list(
            Customer.objects.filter(customer_search_q(term))
            .only("id", "name", "email")
            .order_by("name")[:CUSTOMER_SEARCH_LIMIT]
        )
        if term
        else []
    )
    context = {"term": term, "matches": matches, "searched": bool(term)}
    if is_htmx(request):
        return render(request, "support/_customer_matches.html", context)
    return render(request, "support/pick_customer.html", context)


# --- ticket page ---------------------------------------------------------------------------------


def _ticket_or_404(pk: int) -> Ticket:
    ticket = (
        Ticket.objects.select_related(
            "customer", "contact", "assignee", "team", "sla_policy", "survey_response", "created_by"
        )
        .filter(pk=pk)
        .first()
    )
    if ticket is None:
        raise Http404(_("No such ticket."))
    return ticket


def _ticket_context(
    request: HttpRequest, ticket: Ticket, *, reply_form: ReplyForm | None = None, change_form: ChangeForm | None = None
) -> dict[str, Any]:
    can_work = services.can_work_ticket(request.user, ticket)
    is_manager = roles.is_manager(request.user)
    events = list(ticket.events.select_related("author", "message").order_by("at", "id"))
    return {
        "ticket": ticket,
        "events": events,
        "can_work": can_work,
        "is_manager": is_manager,
        "reply_form": reply_form or ReplyForm(ticket=ticket),
        "change_form": change_form or ChangeForm(ticket=ticket, is_manager=is_manager),
        "now": timezone.now(),
        "kinds": TicketEvent.Kind,
        "status_labels": dict(Ticket.Status.choices),
        "priority_labels": dict(Priority.choices),
        "category_labels": dict(Ticket.Category.choices),
    }


def _ticket_page(request: HttpRequest, ticket: Ticket, **forms: Any) -> HttpResponse:
    context = _ticket_context(request, ticket, **forms)
    template = "support/_ticket.html" if is_htmx(request) else "support/detail.html"
    return render(request, template, context)


@crm_role_required
@require_GET
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _ticket_page(request, _ticket_or_404(pk))


def _require_can_work(request: HttpRequest, ticket: Ticket) -> None:
    if not services.can_work_ticket(request.user, ticket):
        raise PermissionDenied(_("Only the assignee or a CS manager can change this ticket."))


def _after_post(request: HttpRequest, ticket: Ticket, message: str) -> HttpResponse:
    if is_htmx(request):
        fresh = _ticket_or_404(ticket.pk)
        context = _ticket_context(request, fresh)
        context["flash"] = message
        return render(request, "support/_ticket.html", context)
    messages.success(request, message)
    return redirect("support:detail", pk=ticket.pk)


@crm_role_required
@require_POST
def ticket_reply(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(pk)
    _require_can_work(request, ticket)
    form = ReplyForm(request.POST, ticket=ticket)
    if form.is_valid():
        public = form.cleaned_data["kind"] == ReplyForm.PUBLIC
        try:
            services.ticket_reply(
                actor=request.user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                public=public,
                status=form.cleaned_data["then_status"] or None,
            )
        except ValidationError as exc:
            # the service names the status "status"; on this form it is "then status"
            if hasattr(exc, "error_dict") and "status" in exc.error_dict:
                exc.error_dict["then_status"] = exc.error_dict.pop("status")
            apply_service_errors(form, exc)
        else:
            return _after_post(request, ticket, _("Reply sent.") if public else _("Note added."))
    return _ticket_page(request, _ticket_or_404(pk), reply_form=form)


@crm_role_required
@require_POST
def ticket_change(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_or_404(pk)
    _require_can_work(request, ticket)
    form = ChangeForm(request.POST, ticket=ticket, is_manager=roles.is_manager(request.user))
    if form.is_valid():
        try:
            services.ticket_change(actor=request.user, ticket=ticket, **form.changes(request.user))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return _after_post(request, ticket, _("Ticket updated."))
    return _ticket_page(request, _ticket_or_404(pk), change_form=form)


# --- reports -------------------------------------------------------------------------------------


def _hours(seconds: float | None) -> str:
    return f"{seconds / 3600:.2f}" if seconds is not None else ""


def _report(request: HttpRequest) -> tuple[ReportForm, selectors.SupportReport, str]:
    form = ReportForm(request.GET)
    args = form.selector_args()
    return form, selectors.support_report(**args), args["group_by"]


def _group_label(label: str, group_by: str) -> str:
    # selectors.support_report labels tickets without an assignee (or team) with "".
    if label:
        return label
    return _("(no team)") if group_by == "team" else _("(unassigned)")


def _bars(rows: list[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    """TMR per agent (or team) as horizontal bars, widths in % of the slowest."""
    values = [r["tmr"].mean for r in rows if r["tmr"].mean is not None]
    most = max(values) if values else 0
    return [
        {
            "label": _group_label(r["label"], group_by),
            "value": r["tmr"].mean,
            "text": duration(r["tmr"].mean),
            "width": f"{r['tmr'].mean * 100 / most:.1f}" if most else "0",
            "count": r["resolved"],
        }
        for r in rows
        if r["tmr"].mean is not None
    ]


@crm_role_required
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form, report, group_by = _report(request)
    start, end = form.bounds()
    export_params = request.GET.copy()
    rows = [{**r, "label": _group_label(r["label"], group_by)} for r in report.rows]
    return render(
        request,
        "support/reports.html",
        {
            "form": form,
            "report": report,
            "rows": rows,
            "group_by": group_by,
            "bars": _bars(report.rows, group_by),
            "first_day": timezone.localdate(start) if start else None,
            "last_day": timezone.localdate(end - timedelta(days=1)) if end else timezone.localdate(),
            "export_query": export_params.urlencode(),
        },
    )


def _report_row(label: str, figures: dict[str, Any]) -> list[str]:
    pct = figures["sla_met_pct"]
    return [
        label,
        str(figures["resolved"]),
        _hours(figures["tmr"].mean),
        _hours(figures["tmr"].median),
        _hours(figures["tmr_business"].mean),
        _hours(figures["tmr_business"].median),
        _hours(figures["first_response"].mean),
        _hours(figures["first_response"].median),
        _hours(figures["first_response_business"].mean),
        _hours(figures["first_response_business"].median),
        str(figures["sla_total"]),
        str(figures["sla_met"]),
        f"{pct:.1f}" if pct is not None else "",
    ]


@crm_role_required
@require_GET
def reports_export(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form, report, group_by = _report(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="support-{"teams" if group_by == "team" else "agents"}-{timezone.localdate():%Y%m%d}.csv"'
    )
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(REPORT_COLUMNS)
    for row in report.rows:
        writer.writerow([csv_safe(v) for v in _report_row(_group_label(row["label"], group_by), row)])
    overall = {k: getattr(report, k) for k in ("resolved", "tmr", "tmr_business", "first_response")}
    overall.update(
        first_response_business=report.first_response_business,
        sla_total=report.sla_total,
        sla_met=report.sla_met,
        sla_met_pct=report.sla_met_pct,
    )
    writer.writerow([csv_safe(v) for v in _report_row(_("All"), overall)])
    return response


# --- SLA policies and holidays -------------------------------------------------------------------


def _sla_context(request: HttpRequest, **forms: Any) -> dict[str, Any]:
    year = timezone.localdate().year
    edit_id = int_param(request.GET.get("edit"))
    editing = SlaPolicy.objects.filter(pk=edit_id).first() if edit_id else None
    policy_form = forms.get("policy_form") or SlaPolicyForm(instance=editing)
    rank = {p: i for i, p in enumerate((Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW))}
    policies = sorted(
        SlaPolicy.objects.select_related("segment"),
        key=lambda p: (rank.get(p.priority, 9), p.segment is not None, p.segment.name if p.segment else ""),
    )
    return {
        "policies": policies,
        "policy_form": policy_form,
        "editing": policy_form.instance if policy_form.instance.pk else None,
        "holiday_form": forms.get("holiday_form") or HolidayForm(),
        "working_hours": list(WorkingHours.objects.all()),
        "year": year,
        "national": sorted(national_holidays(year).items()),
        "extra_holidays": list(Holiday.objects.filter(date__year__gte=year - 1)),
    }


@crm_role_required
@require_http_methods(["GET", "POST"])
def sla_policies(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    if request.method == "GET":
        return render(request, "support/sla.html", _sla_context(request))
    action = request.POST.get("action")
    if action == "policy":
        policy_id = int_param(request.POST.get("policy_id"))
        instance = SlaPolicy.objects.filter(pk=policy_id).first() if policy_id else None
        form = SlaPolicyForm(request.POST, instance=instance or SlaPolicy())
        if form.is_valid():
            try:
                # the form has written its values on ``instance``: the service compares with the stored row
                stored = SlaPolicy.objects.get(pk=instance.pk) if instance else None
                services.sla_policy_save(actor=request.user, policy=stored, **form.policy_fields())
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("SLA policy saved. Open tickets of this priority follow it now."))
                return redirect("support:sla")
        return render(request, "support/sla.html", _sla_context(request, policy_form=form), status=200)
    if action == "holiday_add":
        holiday_form = HolidayForm(request.POST)
        if holiday_form.is_valid():
            try:
                services.holiday_add(
                    actor=request.user, day=holiday_form.cleaned_data["date"], name=holiday_form.cleaned_data["name"]
                )
            except ValidationError as exc:
                apply_service_errors(holiday_form, exc)
            else:
                messages.success(request, _("Holiday added."))
                return redirect(reverse("support:sla") + "#holidays")
        return render(request, "support/sla.html", _sla_context(request, holiday_form=holiday_form))
    if action == "holiday_remove":
        if services.holiday_remove(actor=request.user, holiday_id=int_param(request.POST.get("holiday_id")) or 0):
            messages.success(request, _("Holiday removed."))
        return redirect(reverse("support:sla") + "#holidays")
    return redirect("support:sla")
