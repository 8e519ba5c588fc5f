"""Messaging pages. Thin: parse input, call selectors/services, render.

CS pages: the messages list and the approval queue (role required). Public pages: unsubscribe
and the preference centre, reached from signed links in e-mails, without login.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from customers.models import Consent, Customer
from posvenda import roles
from posvenda.lists import Echo, csv_datetime, csv_safe, sort_links
from posvenda.web import crm_role_required

from . import links, selectors, services
from .forms import ApprovalForm, MessageTemplateAdminForm
from .models import Channel, Message, MessageTemplate

PAGE_SIZE = 50
SORT_COLUMNS = (
    ("customer", gettext_lazy("Customer")),
    ("channel", gettext_lazy("Channel")),
    ("status", gettext_lazy("Status")),
    ("created", gettext_lazy("Created")),
)
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "customer_id",
    "customer",
    "channel",
    "purpose",
    "status",
    "blocked_reason",
    "subject",
    "sent_at",
    "source",
)
View = Callable[..., HttpResponse]


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _list_filters(request: HttpRequest) -> dict[str, Any]:
    """The list filters and sort from the query string, dropping anything malformed."""
    params = request.GET
    sort = params.get("sort", "")
    return {
        "status": params.get("status", "") if params.get("status") in Message.Status.values else "",
        "channel": params.get("channel", "") if params.get("channel") in Channel.values else "",
        "purpose": params.get("purpose", "") if params.get("purpose") in Consent.Purpose.values else "",
        "customer_id": _int_or_none(params.get("customer")),
        "search": params.get("q", "").strip(),
        "sort": sort if sort in selectors.MESSAGE_SORTS else selectors.MESSAGE_DEFAULT_SORT,
    }


@crm_role_required
def message_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    filters = _list_filters(request)
    page = Paginator(selectors.message_list(**filters), PAGE_SIZE).get_page(params.get("page"))
    customer = (
        Customer.objects.filter(pk=filters["customer_id"]).only("id", "name").first()
        if filters["customer_id"]
        else None
    )
    export_params = params.copy()
    export_params.pop("page", None)
    return render(
        request,
        "messaging/list.html",
        {
            "page": page,
            "message_rows": page.object_list,
            "filters": filters,
            "filter_customer": customer,
            "filtered": any(v for k, v in filters.items() if k != "sort"),
            "sort_links": sort_links(request, filters["sort"], SORT_COLUMNS),
            "export_query": export_params.urlencode(),
            "statuses": Message.Status.choices,
            "channels": Channel.choices,
            "purposes": Consent.Purpose.choices,
            "page_range": page.paginator.get_elided_page_range(page.number),
        },
    )


def _export_rows(rows: QuerySet[Message]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8 and shows accents correctly
    yield writer.writerow(EXPORT_COLUMNS)
    for m in rows.iterator(chunk_size=1000):
        row = [
            m.pk,
            csv_datetime(m.created_at),
            m.customer_id,
            m.customer.name,
            m.channel,
            m.purpose,
            m.status,
            m.blocked_reason or "",
            m.subject or "",
            csv_datetime(m.sent_at),
            m.source or "",
        ]
        yield writer.writerow([csv_safe(str(v)) for v in row])


@crm_role_required
def message_export(request: HttpRequest) -> StreamingHttpResponse:
    """The current filtered and sorted messages list as a streaming CSV."""
    rows = selectors.message_list(**_list_filters(request))
    response = StreamingHttpResponse(_export_rows(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="messages-{timezone.localdate():%Y%m%d}.csv"'
    return response


@crm_role_required
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        message = selectors.message_get(pk=pk)
    except Message.DoesNotExist:
        return render(request, "messaging/not_found.html", status=404)
    return render(
        request,
        "messaging/detail.html",
        {
            "message": message,
            "events": selectors.message_events(message_id=message.pk),
            "can_work": roles.can_edit_customer(request.user, message.customer),
            "form": ApprovalForm(initial={"subject": message.subject, "body": message.body}),
        },
    )


@crm_role_required
def approval_queue(request: HttpRequest) -> HttpResponse:
    drafts = list(selectors.approval_queue(user=request.user)[:100])
    return render(
        request,
        "messaging/approvals.html",
        {
            "drafts": [
                (d, ApprovalForm(initial={"subject": d.subject, "body": d.body}, prefix=f"m{d.pk}")) for d in drafts
            ]
        },
    )


def _draft_or_404(pk: int) -> Message:
    return get_object_or_404(Message.objects.select_related("customer"), pk=pk)


@crm_role_required
@require_POST
def message_approve(request: HttpRequest, pk: int) -> HttpResponse:
    message = _draft_or_404(pk)
    form = ApprovalForm(request.POST, prefix=f"m{pk}")
    if not form.is_valid():
        messages.error(request, _("Fix the message before sending: the text cannot be empty."))
        return redirect("messaging:approvals")
    try:
        message = services.message_approve(
            message=message, actor=request.user, subject=form.cleaned_data["subject"], body=form.cleaned_data["body"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("messaging:approvals")
    if message.status == Message.Status.BLOCKED:
        messages.warning(
            request,
            _("Message to %(customer)s was not sent: %(reason)s.")
            % {"customer": message.customer.name, "reason": message.get_blocked_reason_display()},
        )
    else:
        messages.success(
            request, _("Message to %(customer)s approved and queued.") % {"customer": message.customer.name}
        )
    return redirect("messaging:approvals")


@crm_role_required
@require_POST
def message_discard(request: HttpRequest, pk: int) -> HttpResponse:
    message = _draft_or_404(pk)
    try:
        services.message_discard(message=message, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("messaging:approvals")
    messages.success(request, _("Draft to %(customer)s discarded.") % {"customer": message.customer.name})
    return redirect("messaging:approvals")


# --- Public pages (no login) ------------------------------------------------------------------


def _customer_from_token(token: str) -> Customer | None:
    try:
        customer_id = links.customer_id_from_token(token)
    except signing.BadSignature:
        return None
    return Customer.objects.filter(pk=customer_id).first()


def _bad_link(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/bad_link.html", status=400)


def _mask(address: str) -> str:
    local, _sep, domain = (address or "").partition("@")
    if not domain:
        return ""
    return f"{local[:2]}{'•' * max(len(local) - 2, 1)}@{domain}"


@csrf_exempt  # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" without a CSRF token.
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation; POST (the form or a one-click client) revokes e-mail marketing and surveys.

    The POST can only revoke consent, never grant it, which is why it needs no CSRF token.
    """
    customer = _customer_from_token(token)
    if customer is None:
        return _bad_link(request)
    with translation.override(customer.language or "pt-br"):
        context = {"customer": customer, "masked_email": _mask(customer.email), "token": token}
        if request.method == "POST":
            one_click = request.POST.get("List-Unsubscribe") == "One-Click"
            evidence = (
                _("One-click unsubscribe (RFC 8058) from the e-mail client.")
                if one_click
                else _("Unsubscribe confirmed on the unsubscribe page.")
            )
            services.preferences_unsubscribe(customer=customer, evidence=evidence)
            response = render(request, "messaging/unsubscribed.html", context)
        else:
            response = render(request, "messaging/unsubscribe.html", context)
        response["Content-Language"] = translation.get_language()
    return response


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """Preference centre: the customer picks topics per channel. Service messages are always on."""
    customer = _customer_from_token(token)
    if customer is None:
        return _bad_link(request)
    with translation.override(customer.language or "pt-br"):
        saved = False
        if request.method == "POST":
            choices = {
                (channel, purpose): request.POST.get(f"{channel}-{purpose}") == "on"
                for channel in selectors.PREFERENCE_CHANNELS
                for purpose in selectors.PREFERENCE_PURPOSES
            }
            services.preferences_save(
                customer=customer, choices=choices, evidence=_("Saved by the customer in the preference centre.")
            )
            saved = True
        states = selectors.consent_states(customer_id=customer.pk)
        channel_labels = dict(Consent.Channel.choices)
        purpose_labels = dict(Consent.Purpose.choices)
        rows = [
            {
                "channel": channel,
                "label": channel_labels[channel],
                "topics": [
                    {
                        "name": f"{channel}-{purpose}",
                        "label": purpose_labels[purpose],
                        "on": bool(states.get((channel, purpose))),
                    }
                    for purpose in selectors.PREFERENCE_PURPOSES
                ],
            }
            for channel in selectors.PREFERENCE_CHANNELS
        ]
        response = render(
            request,
            "messaging/preferences.html",
            {"customer": customer, "rows": rows, "saved": saved, "masked_email": _mask(customer.email), "token": token},
        )
        response["Content-Language"] = translation.get_language()
    return response


# --- message templates (read: CS roles; write: managers) ---------------------------------------


@crm_role_required
def template_list(request: HttpRequest) -> HttpResponse:
    templates = MessageTemplate.objects.order_by("name", "id")
    return render(request, "messaging/templates.html", {"templates": templates})


@crm_role_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create or edit a template (managers); anyone with a CRM role may preview it with a real customer."""
    template = get_object_or_404(MessageTemplate, pk=pk) if pk is not None else None
    can_edit = roles.is_manager(request.user)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("Only a CS manager can change message templates."))
        form = MessageTemplateAdminForm(request.POST, instance=template)
        if form.is_valid():
            try:
                saved = services.template_change(
                    actor=request.user,
                    template=template,
                    **{f: form.cleaned_data[f] for f in services.TEMPLATE_FIELDS},
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("Template saved."))
                return redirect("messaging:template_edit", pk=saved.pk)
    else:
        form = MessageTemplateAdminForm(instance=template)
    preview: dict[str, Any] = {}
    term = request.GET.get("customer", "").strip()
    if template is not None and term:
        customer = selectors.customer_for_preview(term=term)
        if customer is None:
            preview["error"] = _("No customer matches “%(term)s”.") % {"term": term}
        else:
            preview["customer"] = customer
            try:
                preview["subject"], preview["body"] = services.template_render(template=template, customer=customer)
            except ValidationError as exc:
                preview["error"] = "; ".join(exc.messages)
    context = {"form": form, "template": template, "can_edit": can_edit, "preview": preview, "term": term}
    return render(request, "messaging/template_form.html", context)
