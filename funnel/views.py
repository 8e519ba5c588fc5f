"""Funnel pages: board, stage history, rules, playbooks, "my day". Thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import apply_service_errors, role_users
from customers.models import Customer, Segment
from posvenda import roles
from posvenda.web import crm_role_required, is_htmx

from . import campaigns, selectors, services
from .forms import AudienceForm, CampaignForm, MoveForm, PlaybookForm, RuleForm, StepForm, TaskForm
from .models import Audience, Campaign, Playbook, PlaybookStep, Stage, Task, TransitionRule


def _require_manager(request: HttpRequest) -> None:
    roles.require_manager(request.user, _("Only a CS manager can change this."))


def _get_or_404(model: Any, pk: int) -> Any:
    try:
        return model.objects.get(pk=pk)
    except model.DoesNotExist:
        raise Http404(_("Not found.")) from None


def _owner_filter(request: HttpRequest) -> tuple[Any, str]:
    raw = request.GET.get("owner", "")
    if raw == "mine":
        return request.user.pk, raw
    if raw == "none":
        return "none", raw
    if raw.isdigit():
        return int(raw), raw
    return None, ""


# --- board -------------------------------------------------------------------------------------


@crm_role_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    owner, owner_param = _owner_filter(request)
    segment_param = request.GET.get("segment", "")
    segment = int(segment_param) if segment_param.isdigit() else None
    columns = selectors.board(owner=owner, segment=segment)
    list_params = {k: v for k, v in (("owner", owner_param), ("segment", segment_param)) if v}
    context = {
        "columns": columns,
        "owners": role_users(),
        "segments": Segment.objects.order_by("name"),
        "owner_param": owner_param,
        "segment": segment,
        "list_params": list_params,
        "stages": Stage.choices,
        "is_manager": roles.is_manager(request.user),
        "filtered": bool(list_params),
        "card_limit": selectors.BOARD_CARD_LIMIT,
    }
    return render(request, "funnel/board.html", context)


@crm_role_required
@require_POST
def move(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_or_404(Customer, pk)
    if not roles.can_edit_customer(request.user, customer):
        raise PermissionDenied(_("You can only move the customers you own."))
    form = MoveForm(request.POST)
    moved = False
    if form.is_valid():
        try:
            services.stage_move(
                customer=customer,
                to_stage=form.cleaned_data["to_stage"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            moved = True
        except ValidationError as exc:
            apply_service_errors(form, exc)
    if moved:
        messages.success(
            request,
            _("%(customer)s moved to %(stage)s.") % {"customer": customer.name, "stage": customer.get_stage_display()},
        )
    else:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(
            request, _("%(customer)s was not moved: %(errors)s") % {"customer": customer.name, "errors": errors}
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("funnel:board")
    return redirect(next_url)


@crm_role_required
@require_GET
def history(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_or_404(Customer, pk)
    context = {
        "customer": customer,
        "history": selectors.stage_history(customer_id=customer.pk),
        "pending_runs": selectors.pending_step_runs(customer_id=customer.pk),
        "open_tasks": selectors.customer_open_tasks(customer_id=customer.pk),
        "can_move": roles.can_edit_customer(request.user, customer),
        "move_form": MoveForm(),
        "stages": [(v, label) for v, label in Stage.choices if v != customer.stage],
    }
    return render(request, "funnel/_history.html" if is_htmx(request) else "funnel/history_page.html", context)


# --- rules -------------------------------------------------------------------------------------


@crm_role_required
@require_GET
def rules(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "funnel/rules.html",
        {"rules": selectors.rule_list(), "is_manager": roles.is_manager(request.user)},
    )


@crm_role_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_manager(request)
    rule = _get_or_404(TransitionRule, pk)
    initial = {"enabled": rule.enabled, "from_stages": rule.from_stages, "to_stage": rule.to_stage, "days": rule.days}
    form = RuleForm(request.POST or None, initial=initial)
    if not rule.is_time_based:
        del form.fields["days"]
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_update(actor=request.user, rule=rule, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("funnel:rules")
    return render(request, "funnel/rule_form.html", {"rule": rule, "form": form})


# --- playbooks ---------------------------------------------------------------------------------


@crm_role_required
@require_GET
def playbooks(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "funnel/playbooks.html",
        {"playbooks": selectors.playbook_list(), "is_manager": roles.is_manager(request.user)},
    )


def _playbook_fields(form: PlaybookForm) -> dict[str, Any]:
    return {k: form.cleaned_data[k] for k in ("name", "stage", "segment", "active")}


@crm_role_required
@require_http_methods(["GET", "POST"])
def playbook_create(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = PlaybookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            playbook = services.playbook_save(actor=request.user, **_playbook_fields(form))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Playbook created. Now add its steps."))
            return redirect("funnel:playbook", pk=playbook.pk)
    return render(request, "funnel/playbook_form.html", {"form": form})


@crm_role_required
@require_http_methods(["GET", "POST"])
def playbook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        playbook = selectors.playbook_get(pk=pk)
    except Playbook.DoesNotExist:
        raise Http404(_("Not found.")) from None
    is_manager = roles.is_manager(request.user)
    initial = {"name": playbook.name, "stage": playbook.stage, "segment": playbook.segment, "active": playbook.active}
    form = PlaybookForm(request.POST or None, initial=initial)
    if request.method == "POST":
        _require_manager(request)
        if form.is_valid():
            try:
                services.playbook_save(actor=request.user, playbook=playbook, **_playbook_fields(form))
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Playbook saved."))
                return redirect("funnel:playbook", pk=playbook.pk)
    context = {
        "playbook": playbook,
        "steps": list(playbook.steps.all()),
        "form": form,
        "step_form": StepForm(),
        "is_manager": is_manager,
    }
    return render(request, "funnel/playbook_detail.html", context)


def _step_fields(form: StepForm) -> dict[str, Any]:
    return {
        k: form.cleaned_data[k]
        for k in ("day_offset", "action", "template", "task_title", "task_priority", "requires_approval")
    }


@crm_role_required
@require_http_methods(["GET", "POST"])
def step_edit(request: HttpRequest, pk: int, step_pk: int | None = None) -> HttpResponse:
    """Add a step to playbook ``pk`` (``step_pk`` None) or change one."""
    _require_manager(request)
    playbook = _get_or_404(Playbook, pk)
    step = None
    if step_pk is not None:
        step = PlaybookStep.objects.filter(pk=step_pk, playbook=playbook).first()
        if step is None:
            raise Http404(_("Not found."))
    initial = {}
    if step is not None:
        initial = {f: getattr(step, f) for f in ("day_offset", "action", "template", "task_title", "task_priority")}
        initial["requires_approval"] = step.requires_approval
    form = StepForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.playbook_step_save(actor=request.user, playbook=playbook, step=step, **_step_fields(form))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Step saved."))
            return redirect("funnel:playbook", pk=playbook.pk)
    return render(request, "funnel/step_form.html", {"playbook": playbook, "step": step, "form": form})


@crm_role_required
@require_POST
def step_delete(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    _require_manager(request)
    step = PlaybookStep.objects.filter(pk=step_pk, playbook_id=pk).first()
    if step is None:
        raise Http404(_("Not found."))
    services.playbook_step_delete(actor=request.user, step=step)
    messages.success(request, _("Step removed."))
    return redirect("funnel:playbook", pk=pk)


@crm_role_required
@require_GET
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Render a step's template for a real customer (htmx partial on the playbook page)."""
    playbook = _get_or_404(Playbook, pk)
    step_param = request.GET.get("step", "")
    step = (
        PlaybookStep.objects.select_related("template").filter(pk=int(step_param), playbook=playbook).first()
        if step_param.isdigit()
        else None
    )
    term = request.GET.get("customer", "").strip()
    customer = selectors.customer_lookup(term=term) if term else None
    context: dict[str, Any] = {"playbook": playbook, "step": step, "customer": customer, "term": term}
    if step is None or step.template is None:
        context["error"] = _("Choose a step that sends a message.")
    elif not term:
        context["error"] = _("Type a customer's name, e-mail, CPF/CNPJ or #id.")
    elif customer is None:
        context["error"] = _("No customer matches “%(term)s”.") % {"term": term}
    else:
        try:
            context["subject"], context["body"] = services.template_preview(template=step.template, customer=customer)
        except ValidationError as exc:
            context["error"] = "; ".join(exc.messages)
    return render(request, "funnel/_preview.html" if is_htmx(request) else "funnel/preview_page.html", context)


# --- my day and tasks --------------------------------------------------------------------------


def _my_day_owner(request: HttpRequest) -> tuple[Any, str]:
    """Agents see their own tasks; managers may pick the team ("all"), nobody ("none") or an agent."""
    if not roles.is_manager(request.user):
        return request.user.pk, ""
    raw = request.GET.get("owner", "")
    if raw in ("all", "none"):
        return raw, raw
    if raw.isdigit():
        return int(raw), raw
    return request.user.pk, ""


def _render_my_day(request: HttpRequest, form: TaskForm, status: int = 200) -> HttpResponse:
    owner, owner_param = _my_day_owner(request)
    today = timezone.localdate()
    day = selectors.my_day(owner=owner, today=today)
    context = {
        "day": day,
        "today": today,
        "form": form,
        "is_manager": roles.is_manager(request.user),
        "owners": role_users() if roles.is_manager(request.user) else [],
        "owner_param": owner_param,
        "show_owner": owner != request.user.pk,
        "upcoming_days": selectors.UPCOMING_DAYS,
    }
    return render(request, "funnel/my_day.html", context, status=status)


@crm_role_required
@require_GET
def my_day(request: HttpRequest) -> HttpResponse:
    initial = {}
    customer_param = request.GET.get("customer", "")
    if customer_param.isdigit():
        initial["customer"] = f"#{customer_param}"
    form = TaskForm(initial=initial, can_assign=roles.is_manager(request.user))
    return _render_my_day(request, form)


@crm_role_required
@require_POST
def task_create(request: HttpRequest) -> HttpResponse:
    is_manager = roles.is_manager(request.user)
    form = TaskForm(request.POST, can_assign=is_manager)
    if form.is_valid():
        # Agents pick among their own customers; a manager among all.
        customer = selectors.customer_lookup(
            term=form.cleaned_data["customer"], owner_id=None if is_manager else request.user.pk
        )
        if customer is None:
            form.add_error("customer", _("No customer of yours matches this; try the name, e-mail or #id."))
        else:
            try:
                task = services.task_create(
                    actor=request.user,
                    customer=customer,
                    title=form.cleaned_data["title"],
                    due_date=form.cleaned_data["due_date"],
                    priority=form.cleaned_data["priority"],
                    notes=form.cleaned_data["notes"],
                    owner=form.cleaned_data.get("owner"),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Task “%(title)s” created for %(customer)s.") % {"title": task.title, "customer": customer},
                )
                return redirect("funnel:my_day")
    return _render_my_day(request, form, status=400)


@crm_role_required
@require_POST
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        task = Task.objects.select_related("customer", "owner").get(pk=pk)
    except Task.DoesNotExist:
        raise Http404(_("Not found.")) from None
    services.task_complete(actor=request.user, task=task)
    if is_htmx(request):
        return render(request, "funnel/_task_row.html", {"task": task, "today": timezone.localdate()})
    messages.success(request, _("Task “%(title)s” done.") % {"title": task.title})
    return redirect("funnel:my_day")


# --- campaigns and audiences ---------------------------------------------------------------------

CAMPAIGN_PAGE_SIZE = 50


@crm_role_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Campaign.Status.values:
        status = ""
    search = request.GET.get("q", "").strip()
    page = Paginator(campaigns.campaign_list(status=status, search=search), CAMPAIGN_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "campaign_rows": list(page.object_list),
        "statuses": Campaign.Status.choices,
        "filters": {"status": status, "search": search},
        "filtered": bool(status or search),
        "is_manager": roles.is_manager(request.user),
    }
    return render(request, "funnel/campaign_list.html", context)


def _campaign_or_404(pk: int) -> Campaign:
    try:
        return campaigns.campaign_get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404(_("Not found.")) from None


def _campaign_form_page(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    _require_manager(request)
    if campaign is not None and not campaign.is_editable:
        messages.error(request, _("This campaign has started and can no longer be changed."))
        return redirect("funnel:campaign", pk=campaign.pk)
    initial = {}
    if campaign is not None:
        initial = {
            "name": campaign.name,
            "template": campaign.template,
            "audience": campaign.audience,
            "scheduled_at": timezone.localtime(campaign.scheduled_at) if campaign.scheduled_at else None,
        }
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaigns.campaign_save(actor=request.user, campaign=campaign, **form.cleaned_data)
            if request.POST.get("action") == "send":
                campaign = campaigns.campaign_send(actor=request.user, campaign=campaign)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if campaign.status == Campaign.Status.SCHEDULED:
                when = formats.date_format(timezone.localtime(campaign.scheduled_at), "SHORT_DATETIME_FORMAT")
                messages.success(request, _("Campaign scheduled for %(when)s.") % {"when": when})
            elif campaign.status in (Campaign.Status.SENDING, Campaign.Status.DONE):
                messages.success(request, _("Campaign started."))
            else:
                messages.success(request, _("Campaign saved as a draft."))
            return redirect("funnel:campaign", pk=campaign.pk)
    audience = form["audience"].value() if form.is_bound else (campaign.audience_id if campaign else None)
    context = {"form": form, "campaign": campaign, "size": _audience_size_of(audience)}
    return render(request, "funnel/campaign_form.html", context, status=400 if form.errors else 200)


def _audience_size_of(audience_id: Any) -> int | None:
    if not str(audience_id or "").isdigit():
        return None
    audience = Audience.objects.filter(pk=int(audience_id)).first()
    return campaigns.audience_size(filters=audience.filters) if audience is not None else None


@crm_role_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    return _campaign_form_page(request, None)


@crm_role_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _campaign_form_page(request, _campaign_or_404(pk))


def _progress_context(campaign: Campaign) -> dict[str, Any]:
    results = campaigns.campaign_results(campaign=campaign)
    return {
        "campaign": campaign,
        "results": results,
        "failed_batches": campaigns.campaign_failed_batches(campaign=campaign)
        if campaign.status in (Campaign.Status.SENDING, Campaign.Status.DONE)
        else 0,
        # Keep polling while messages are still being prepared or handed to the provider.
        "polling": campaign.status == Campaign.Status.SENDING or results.in_flight > 0,
        "delivery_percent": min(100, round(results.handed_over * 100 / campaign.queued_count))
        if campaign.queued_count
        else (100 if campaign.status == Campaign.Status.DONE else 0),
    }


@crm_role_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    context = _progress_context(campaign)
    context["is_manager"] = roles.is_manager(request.user)
    if campaign.is_editable:
        context["size"] = campaigns.audience_size(filters=campaign.audience.filters)
    return render(request, "funnel/campaign_detail.html", context)


@crm_role_required
@require_GET
def campaign_progress(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "funnel/campaign_progress.html", _progress_context(_campaign_or_404(pk)))


@crm_role_required
@require_POST
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    _require_manager(request)
    campaign = _campaign_or_404(pk)
    try:
        campaign = campaigns.campaign_send(actor=request.user, campaign=campaign)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        if campaign.status == Campaign.Status.SCHEDULED:
            when = formats.date_format(timezone.localtime(campaign.scheduled_at), "SHORT_DATETIME_FORMAT")
            messages.success(request, _("Campaign scheduled for %(when)s.") % {"when": when})
        else:
            messages.success(request, _("Campaign started."))
    return redirect("funnel:campaign", pk=pk)


@crm_role_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    _require_manager(request)
    campaign = _campaign_or_404(pk)
    try:
        campaigns.campaign_cancel(actor=request.user, campaign=campaign)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, _("Campaign cancelled; nothing will be sent."))
    return redirect("funnel:campaign", pk=pk)


@crm_role_required
@require_GET
def campaign_audience_size(request: HttpRequest) -> HttpResponse:
    """htmx: the size of the audience picked on the campaign form."""
    return render(request, "funnel/campaign_size.html", {"size": _audience_size_of(request.GET.get("audience"))})


@crm_role_required
@require_GET
def audience_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "funnel/campaign_audiences.html",
        {"audiences": list(campaigns.audience_list()), "is_manager": roles.is_manager(request.user)},
    )


def _audience_form_page(request: HttpRequest, audience: Audience | None) -> HttpResponse:
    _require_manager(request)
    initial = AudienceForm.initial_from(audience) if audience is not None else {}
    form = AudienceForm(request.POST or None, initial=initial)
    size = None
    if request.method == "POST" and form.is_valid():
        try:
            audience = campaigns.audience_save(
                actor=request.user, audience=audience, name=form.cleaned_data["name"], filters=form.filters()
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Audience saved."))
            return redirect("funnel:audiences")
    elif audience is not None:
        size = campaigns.audience_size(filters=audience.filters)
    context = {"form": form, "audience": audience, "size": size}
    return render(request, "funnel/campaign_audience_form.html", context, status=400 if form.errors else 200)


@crm_role_required
@require_http_methods(["GET", "POST"])
def audience_create(request: HttpRequest) -> HttpResponse:
    return _audience_form_page(request, None)


@crm_role_required
@require_http_methods(["GET", "POST"])
def audience_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _audience_form_page(request, _get_or_404(Audience, pk))


@crm_role_required
@require_GET
def audience_size(request: HttpRequest) -> HttpResponse:
    """htmx: how many customers the filters being edited select right now."""
    form = AudienceForm(request.GET)
    form.fields["name"].required = False
    context: dict[str, Any] = {"size": None}
    if form.is_valid():
        try:
            context["size"] = campaigns.audience_size(filters=form.filters())
        except ValidationError as exc:
            context["error"] = "; ".join(exc.messages)
    else:
        context["error"] = _("Fix the filters marked below to see the audience size.")
    return render(request, "funnel/campaign_size.html", context)
