"""Server-rendered customer pages. Thin: parse input, call selectors/services, render."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

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
from django.views.decorators.http import require_http_methods, require_POST

from posvenda import roles
from posvenda.lists import Echo, csv_safe, sort_links
from posvenda.web import crm_role_required, is_htmx
from surveys.forms import CustomerSendForm
from surveys.selectors import customer_survey_panel

from . import selectors, services
from .forms import (
    ConsentForm,
    ContactForm,
    ContractForm,
    CustomerForm,
    InteractionForm,
    OrderForm,
    apply_service_errors,
    role_users,
)
from .models import Consent, Customer, Segment, Tag

PAGE_SIZE = 50
EXPORT_COLUMNS = (
    "external_id",
    "kind",
    "name",
    "document",
    "email",
    "phone",
    "owner",
    "segment",
    "tags",
    "plan",
    "mrr",
    "stage",
    "created_at",
)
SORT_COLUMNS = (
    ("name", gettext_lazy("Name")),
    ("owner", gettext_lazy("Owner")),
    ("stage", gettext_lazy("Stage")),
    ("mrr", gettext_lazy("MRR")),
    ("created", gettext_lazy("Created")),
    ("health", gettext_lazy("Health")),
)

View = Callable[..., HttpResponse]


def _get_customer(pk: int) -> Customer:
    try:
        return selectors.customer_get(pk=pk)
    except Customer.DoesNotExist:
        raise Http404(_("No such customer.")) from None


def _require_can_work(request: HttpRequest, customer: Customer) -> None:
    if not roles.can_edit_customer(request.user, customer):
        raise PermissionDenied(_("You can only work on the customers you own."))


# --- list and export ---------------------------------------------------------------------------


def _list_filters(request: HttpRequest) -> dict[str, Any]:
    """Read the list filters from the query string, dropping anything malformed."""
    get = request.GET
    owner_param = get.get("owner", "")
    owner: Any = None
    if owner_param == "mine":
        owner = request.user.pk
    elif owner_param == "none":
        owner = "none"
    elif owner_param.isdigit():
        owner = int(owner_param)
    segment = get.get("segment", "")
    kind = get.get("kind", "")
    stage = get.get("stage", "")
    sort = get.get("sort", "name")
    return {
        "search": get.get("q", "").strip()[:200],
        "owner": owner,
        "segment": int(segment) if segment.isdigit() else None,
        "kind": kind if kind in Customer.Kind.values else "",
        "stage": stage if stage in Customer.Stage.values else "",
        "tag": get.get("tag", "").strip()[:50],
        "sort": sort if sort in selectors.SORTS else "name",
    }


@crm_role_required
def customer_list(request: HttpRequest) -> HttpResponse:
    filters = _list_filters(request)
    page = Paginator(selectors.customer_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    export_params = request.GET.copy()
    export_params.pop("page", None)
    context = {
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "customers": page.object_list,
        "filters": filters,
        "params": request.GET,
        "sort_links": sort_links(request, filters["sort"], SORT_COLUMNS),
        "owners": list(role_users()),
        "segments": list(Segment.objects.all()),
        "tags": list(Tag.objects.values_list("name", flat=True)),
        "kinds": Customer.Kind.choices,
        "stages": Customer.Stage.choices,
        "export_query": export_params.urlencode(),
        "filtered": any(request.GET.get(k) for k in ("q", "owner", "segment", "kind", "stage", "tag")),
    }
    return render(request, "customers/list.html", context)


def _export_rows(customers: QuerySet[Customer]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield "\ufeff"  # BOM: Excel then reads the file as UTF-8 and shows accents correctly
    yield writer.writerow(EXPORT_COLUMNS)
    for c in customers.iterator(chunk_size=1000):
        created = timezone.localtime(c.created_at).isoformat(timespec="seconds") if c.created_at else ""
        row = [
            c.external_id or "",
            c.kind,
            c.name,
            c.document,
            c.email,
            c.phone,
            c.owner.username if c.owner else "",
            c.segment.name if c.segment else "",
            ", ".join(t.name for t in c.tags.all()),
            c.plan,
            f"{c.mrr:.2f}",
            c.stage,
            created,
        ]
        yield writer.writerow([csv_safe(str(v)) for v in row])


@crm_role_required
def customer_export(request: HttpRequest) -> StreamingHttpResponse:
    customers = selectors.customer_list(**_list_filters(request))
    response = StreamingHttpResponse(_export_rows(customers), content_type="text/csv; charset=utf-8")
    filename = f"customers-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- create / edit / delete --------------------------------------------------------------------


@crm_role_required
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(actor=request.user, **form.service_kwargs())
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Customer “%(name)s” created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": None})


@crm_role_required
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_customer(pk)
    _require_can_work(request, customer)
    form = CustomerForm(request.POST or None, user=request.user, instance=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(actor=request.user, customer=customer, **form.service_kwargs())
        except ValidationError as exc:
            apply_service_errors(form, exc)
            customer.refresh_from_db()
        else:
            messages.success(request, _("Customer “%(name)s” saved.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": customer})


@crm_role_required
@require_http_methods(["GET", "POST"])
def customer_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if not roles.can_delete_customer(request.user):
        raise PermissionDenied(_("Only a CS manager can delete customers."))
    customer = _get_customer(pk)
    if request.method == "POST":
        name = customer.name
        services.customer_delete(actor=request.user, customer=customer)
        messages.success(request, _("Customer “%(name)s” deleted.") % {"name": name})
        return redirect("customers:list")
    return render(request, "customers/confirm_delete.html", {"customer": customer})


# --- customer 360 ------------------------------------------------------------------------------


def _render_detail(request: HttpRequest, pk: int, *, interaction_form: InteractionForm | None = None) -> HttpResponse:
    try:
        data = selectors.customer_360(pk=pk)
    except Customer.DoesNotExist:
        raise Http404(_("No such customer.")) from None
    customer = data.customer
    can_work = roles.can_edit_customer(request.user, customer)
    active_contracts = [c for c in data.contracts if c.status == c.Status.ACTIVE]
    context = {
        "customer": customer,
        "data": data,
        "can_work": can_work,
        "can_delete": roles.can_delete_customer(request.user),
        "active_mrr": sum((c.mrr for c in active_contracts), start=0),
        "active_contract_count": len(active_contracts),
        "interaction_form": interaction_form or (InteractionForm() if can_work else None),
        "survey_panel": customer_survey_panel(customer=customer),
        "survey_send_form": CustomerSendForm() if can_work else None,
    }
    return render(request, "customers/detail.html", context)


@crm_role_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk)


@crm_role_required
@require_POST
def interaction_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a timeline entry. htmx gets the new item (or the form with errors); plain POST redirects."""
    customer = _get_customer(pk)
    _require_can_work(request, customer)
    form = InteractionForm(request.POST)
    interaction = None
    if form.is_valid():
        try:
            interaction = services.interaction_add(actor=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    if is_htmx(request):
        if interaction is None:
            response = render(request, "customers/_interaction_form.html", {"customer": customer, "form": form})
            response["HX-Retarget"] = "#interaction-form"
            response["HX-Reswap"] = "outerHTML"
            return response
        context = {"customer": customer, "item": interaction, "form": InteractionForm(), "oob_form": True}
        return render(request, "customers/_interaction_created.html", context)
    if interaction is None:
        return _render_detail(request, pk, interaction_form=form)
    messages.success(request, _("Interaction added to the timeline."))
    return redirect(f"{reverse('customers:detail', args=[pk])}#timeline")


def _subform_view(
    request: HttpRequest,
    pk: int,
    *,
    form_class: type,
    save: Callable[[Customer, dict[str, Any]], Any],
    title: str,
    success: str,
    anchor: str,
) -> HttpResponse:
    """The small "add X to this customer" pages share one shape: check, validate, call the service."""
    customer = _get_customer(pk)
    _require_can_work(request, customer)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            save(customer, form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, success)
            return redirect(f"{reverse('customers:detail', args=[pk])}#{anchor}")
    return render(request, "customers/subform.html", {"customer": customer, "form": form, "title": title})


@crm_role_required
@require_http_methods(["GET", "POST"])
def consent_add(request: HttpRequest, pk: int) -> HttpResponse:
    def save(customer: Customer, data: dict[str, Any]) -> Any:
        return services.consent_record(actor=request.user, customer=customer, source=Consent.Source.MANUAL, **data)

    return _subform_view(
        request,
        pk,
        form_class=ConsentForm,
        save=save,
        title=_("Record consent"),
        success=_("Consent recorded."),
        anchor="consents",
    )


@crm_role_required
@require_http_methods(["GET", "POST"])
def contact_add(request: HttpRequest, pk: int) -> HttpResponse:
    def save(customer: Customer, data: dict[str, Any]) -> Any:
        return services.contact_create(actor=request.user, customer=customer, **data)

    return _subform_view(
        request,
        pk,
        form_class=ContactForm,
        save=save,
        title=_("Add contact"),
        success=_("Contact added."),
        anchor="contacts",
    )


@crm_role_required
@require_http_methods(["GET", "POST"])
def order_add(request: HttpRequest, pk: int) -> HttpResponse:
    def save(customer: Customer, data: dict[str, Any]) -> Any:
        return services.order_record(actor=request.user, customer=customer, **data)

    return _subform_view(
        request,
        pk,
        form_class=OrderForm,
        save=save,
        title=_("Record order"),
        success=_("Order recorded."),
        anchor="orders",
    )


@crm_role_required
@require_http_methods(["GET", "POST"])
def contract_add(request: HttpRequest, pk: int) -> HttpResponse:
    def save(customer: Customer, data: dict[str, Any]) -> Any:
        return services.contract_create(actor=request.user, customer=customer, **data)

    return _subform_view(
        request,
        pk,
        form_class=ContractForm,
        save=save,
        title=_("Add contract"),
        success=_("Contract added."),
        anchor="contracts",
    )
