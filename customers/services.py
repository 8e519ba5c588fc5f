"""Every write to customers, contacts, orders, contracts, interactions and consents.

Views, API, admin, commands and tasks call these; none writes the ORM itself. Each service
validates (raising django.core.exceptions.ValidationError with per-field messages), writes in a
transaction and emits its domain event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from posvenda import events, roles

from .models import Consent, Contact, Contract, Customer, Interaction, Order, Segment, Tag
from .validators import normalize_document, normalize_phone

CUSTOMER_FIELDS = (
    "kind",
    "name",
    "document",
    "email",
    "phone",
    "instagram_id",
    "owner",
    "segment",
    "plan",
    "mrr",
    "external_id",
    "language",
)


def _clean_customer_fields(data: dict[str, Any], *, kind: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = dict(data)
    if "document" in cleaned:
        try:
            cleaned["document"] = normalize_document(cleaned["document"], kind=kind)
        except ValidationError as exc:
            errors["document"] = exc.messages
    if "phone" in cleaned:
        try:
            cleaned["phone"] = normalize_phone(cleaned["phone"])
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if "email" in cleaned:
        cleaned["email"] = (cleaned["email"] or "").strip().lower()
    if "external_id" in cleaned:
        cleaned["external_id"] = (cleaned["external_id"] or "").strip() or None
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
    if errors:
        raise ValidationError(errors)
    return cleaned


def _save_validated(instance: Any, *, exclude: Iterable[str] = ()) -> None:
    """full_clean + save, turning a lost race on a unique column into a field error."""
    instance.full_clean(exclude=list(exclude))
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"__all__": [_("This record conflicts with an existing one (%(err)s).") % {"err": exc}]}
        ) from exc


def _check_owner_change(*, actor: AbstractBaseUser | None, customer: Customer, new_owner: Any) -> None:
    if actor is None:
        return
    new_owner_id = getattr(new_owner, "pk", new_owner)
    if new_owner_id != customer.owner_id and not roles.can_reassign_owner(actor):
        raise PermissionDenied(_("Only a CS manager can reassign a customer's owner."))


@transaction.atomic
def customer_create(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    kind: str = Customer.Kind.PERSON,
    tags: Iterable[str] | None = None,
    **fields: Any,
) -> Customer:
    """Create a customer. An agent who creates a customer owns it; only managers pick another owner."""
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    if actor is not None and not roles.can_create_customer(actor):
        raise PermissionDenied(_("Your role cannot create customers."))
    if actor is not None and not roles.can_reassign_owner(actor):
        requested = fields.get("owner")
        if requested is not None and getattr(requested, "pk", requested) != actor.pk:
            raise PermissionDenied(_("Only a CS manager can assign a customer to someone else."))
        fields["owner"] = actor
    cleaned = _clean_customer_fields({"name": name, **fields}, kind=kind)
    customer = Customer(kind=kind, **cleaned)
    _save_validated(customer)
    if tags is not None:
        customer_set_tags(customer=customer, tags=tags)
    events.emit(events.CUSTOMER_CREATED, customer_id=customer.pk)
    return customer


@transaction.atomic
def customer_update(
    *, actor: AbstractBaseUser | None, customer: Customer, tags: Iterable[str] | None = None, **fields: Any
) -> Customer:
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"unknown customer fields: {sorted(unknown)}")
    if actor is not None and not roles.can_edit_customer(actor, customer):
        raise PermissionDenied(_("You can only edit the customers you own."))
    if "owner" in fields:
        _check_owner_change(actor=actor, customer=customer, new_owner=fields["owner"])
    kind = fields.get("kind", customer.kind)
    if "kind" in fields and "document" not in fields:
        fields["document"] = customer.document
    cleaned = _clean_customer_fields(fields, kind=kind)
    old_mrr = customer.mrr
    for key, value in cleaned.items():
        setattr(customer, key, value)
    _save_validated(customer)
    if tags is not None:
        customer_set_tags(customer=customer, tags=tags)
    events.emit(events.CUSTOMER_UPDATED, customer_id=customer.pk, fields=sorted(cleaned))
    if customer.mrr > old_mrr:
        events.emit(events.PLAN_UPGRADED, customer_id=customer.pk, old_mrr=old_mrr, new_mrr=customer.mrr)
    return customer


@transaction.atomic
def customer_delete(*, actor: AbstractBaseUser | None, customer: Customer) -> None:
    if actor is not None and not roles.can_delete_customer(actor):
        raise PermissionDenied(_("Only a CS manager can delete customers."))
    customer.delete()


def customer_set_tags(*, customer: Customer, tags: Iterable[str]) -> None:
    names = sorted({t.strip() for t in tags if t and t.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    customer.tags.set([existing[n] for n in names])


def segment_get_or_create(*, name: str) -> Segment:
    segment, _created = Segment.objects.get_or_create(name=name.strip())
    return segment


def _require_can_work(actor: AbstractBaseUser | None, customer: Customer) -> None:
    if actor is not None and not roles.can_edit_customer(actor, customer):
        raise PermissionDenied(_("You can only work on the customers you own."))


@transaction.atomic
def contact_create(*, actor: AbstractBaseUser | None, customer: Customer, name: str, **fields: Any) -> Contact:
    _require_can_work(actor, customer)
    if "phone" in fields:
        fields["phone"] = normalize_phone(fields["phone"])
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower()
    fields["external_id"] = (fields.get("external_id") or "").strip() or None
    if fields.get("is_primary"):
        customer.contacts.filter(is_primary=True).update(is_primary=False)
    contact = Contact(customer=customer, name=name.strip(), **fields)
    _save_validated(contact)
    return contact


@transaction.atomic
def contact_update(*, actor: AbstractBaseUser | None, contact: Contact, **fields: Any) -> Contact:
    _require_can_work(actor, contact.customer)
    if "phone" in fields:
        fields["phone"] = normalize_phone(fields["phone"])
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower()
    if "external_id" in fields:
        fields["external_id"] = (fields["external_id"] or "").strip() or None
    if fields.get("is_primary"):
        Contact.objects.filter(customer_id=contact.customer_id, is_primary=True).exclude(pk=contact.pk).update(
            is_primary=False
        )
    for key, value in fields.items():
        setattr(contact, key, value)
    _save_validated(contact)
    return contact


@transaction.atomic
def order_record(
    *,
    actor: AbstractBaseUser | None,
    customer: Customer,
    amount: Decimal,
    purchased_at: datetime | None = None,
    **fields: Any,
) -> Order:
    _require_can_work(actor, customer)
    fields["external_id"] = (fields.get("external_id") or "").strip() or None
    order = Order(customer=customer, amount=amount, purchased_at=purchased_at or timezone.now(), **fields)
    _save_validated(order)
    events.emit(events.ORDER_RECORDED, order_id=order.pk, customer_id=customer.pk)
    return order


@transaction.atomic
def order_update(*, actor: AbstractBaseUser | None, order: Order, **fields: Any) -> Order:
    _require_can_work(actor, order.customer)
    if "external_id" in fields:
        fields["external_id"] = (fields["external_id"] or "").strip() or None
    was_refunded = order.status == Order.Status.REFUNDED
    was_cancelled = order.status == Order.Status.CANCELLED
    for key, value in fields.items():
        setattr(order, key, value)
    _save_validated(order)
    if order.status == Order.Status.REFUNDED and not was_refunded:
        events.emit(events.ORDER_REFUNDED, order_id=order.pk, customer_id=order.customer_id)
    if order.status == Order.Status.CANCELLED and not was_cancelled:
        events.emit(events.ORDER_CANCELLED, order_id=order.pk, customer_id=order.customer_id)
    return order


@transaction.atomic
def contract_create(*, actor: AbstractBaseUser | None, customer: Customer, started_at: date, **fields: Any) -> Contract:
    _require_can_work(actor, customer)
    fields["external_id"] = (fields.get("external_id") or "").strip() or None
    contract = Contract(customer=customer, started_at=started_at, **fields)
    _save_validated(contract)
    events.emit(events.CONTRACT_CHANGED, contract_id=contract.pk, customer_id=customer.pk)
    return contract


@transaction.atomic
def contract_update(*, actor: AbstractBaseUser | None, contract: Contract, **fields: Any) -> Contract:
    _require_can_work(actor, contract.customer)
    if "external_id" in fields:
        fields["external_id"] = (fields["external_id"] or "").strip() or None
    old_mrr = contract.mrr
    for key, value in fields.items():
        setattr(contract, key, value)
    if contract.status == Contract.Status.CANCELLED and contract.cancelled_at is None:
        contract.cancelled_at = timezone.localdate()
    _save_validated(contract)
    events.emit(events.CONTRACT_CHANGED, contract_id=contract.pk, customer_id=contract.customer_id)
    if contract.status == Contract.Status.ACTIVE and contract.mrr > old_mrr:
        events.emit(events.PLAN_UPGRADED, customer_id=contract.customer_id, old_mrr=old_mrr, new_mrr=contract.mrr)
    return contract


@transaction.atomic
def interaction_add(
    *,
    actor: AbstractBaseUser | None,
    customer: Customer,
    body: str,
    kind: str = Interaction.Kind.NOTE,
    subject: str = "",
    happened_at: datetime | None = None,
) -> Interaction:
    _require_can_work(actor, customer)
    interaction = Interaction(
        customer=customer,
        kind=kind,
        subject=subject.strip(),
        body=(body or "").strip(),
        author=actor,
        happened_at=happened_at or timezone.now(),
    )
    _save_validated(interaction)
    events.emit(events.INTERACTION_ADDED, interaction_id=interaction.pk, customer_id=customer.pk)
    return interaction


@transaction.atomic
def consent_record(
    *,
    actor: AbstractBaseUser | None,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    evidence: str = "",
    recorded_at: datetime | None = None,
) -> Consent:
    """Append a consent record (LGPD). The latest record per channel and purpose is the one in force.

    ``actor=None`` is the customer acting for themselves (preference centre) or a system job.
    """
    _require_can_work(actor, customer)
    consent = Consent(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        evidence=evidence,
        recorded_at=recorded_at or timezone.now(),
        recorded_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    consent.full_clean()
    consent.save()
    return consent


# --- Upserts that write nothing on a replay, and the remaining deletes (used by the REST API). ---


def _changed_fields(instance: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``fields`` whose value differs from what ``instance`` holds (relations by pk)."""
    changed: dict[str, Any] = {}
    for key, value in fields.items():
        field = instance._meta.get_field(key)
        current = getattr(instance, field.attname)
        new = getattr(value, "pk", value) if field.is_relation else value
        if current != new:
            changed[key] = value
    return changed


def _require_external_id(external_id: str) -> str:
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": [_("External ID is required.")]})
    return external_id


@transaction.atomic
def customer_sync_by_external_id(
    *, actor: AbstractBaseUser | None, external_id: str, tags: Iterable[str] | None = None, **fields: Any
) -> tuple[Customer, str]:
    """Create or update the customer with this external id; returns (customer, outcome).

    outcome is "created", "updated" or "unchanged": replaying the same data writes nothing, so
    integrations can resend freely without bumping updated_at or emitting events.
    """
    external_id = _require_external_id(external_id)
    fields.pop("external_id", None)
    customer = Customer.objects.select_for_update().filter(external_id=external_id).first()
    if customer is None:
        if not fields.get("name"):
            raise ValidationError({"name": [_("This field is required.")]})
        return customer_create(actor=actor, external_id=external_id, tags=tags, **fields), "created"
    if actor is not None and not roles.can_edit_customer(actor, customer):
        raise PermissionDenied(_("You can only edit the customers you own."))
    cleaned = _clean_customer_fields(fields, kind=fields.get("kind", customer.kind))
    changed = _changed_fields(customer, cleaned)
    new_tags = None
    if tags is not None:
        names = {t.strip() for t in tags if t and t.strip()}
        if names != set(customer.tags.values_list("name", flat=True)):
            new_tags = names
    if not changed and new_tags is None:
        return customer, "unchanged"
    return customer_update(actor=actor, customer=customer, tags=new_tags, **changed), "updated"


def _child_sync(
    *,
    model: type[Order] | type[Contract],
    actor: AbstractBaseUser | None,
    external_id: str,
    customer: Customer | None,
    required: tuple[str, ...],
    create: Any,
    update: Any,
    moved_error: str,
    fields: dict[str, Any],
) -> tuple[Any, str]:
    """Shared body of the order/contract upserts: create, refuse a move, or update only what changed."""
    external_id = _require_external_id(external_id)
    fields.pop("external_id", None)
    instance = model.objects.select_for_update().filter(external_id=external_id).first()
    if instance is None:
        errors = {key: [_("This field is required.")] for key in required if fields.get(key) is None}
        if customer is None:
            errors["customer"] = [_("This field is required.")]
        if errors:
            raise ValidationError(errors)
        return create(actor=actor, customer=customer, external_id=external_id, **fields), "created"
    if customer is not None and customer.pk != instance.customer_id:
        raise ValidationError({"customer": [moved_error]})
    _require_can_work(actor, instance.customer)
    changed = _changed_fields(instance, fields)
    if not changed:
        return instance, "unchanged"
    return update(actor, instance, changed), "updated"


@transaction.atomic
def order_sync_by_external_id(
    *, actor: AbstractBaseUser | None, external_id: str, customer: Customer | None = None, **fields: Any
) -> tuple[Order, str]:
    """Create or update the order with this external id; returns (order, "created"|"updated"|"unchanged")."""
    return _child_sync(
        model=Order,
        actor=actor,
        external_id=external_id,
        customer=customer,
        required=("amount",),
        create=order_record,
        update=lambda actor, order, changed: order_update(actor=actor, order=order, **changed),
        moved_error=_("An order cannot be moved to another customer."),
        fields=fields,
    )


@transaction.atomic
def contract_sync_by_external_id(
    *, actor: AbstractBaseUser | None, external_id: str, customer: Customer | None = None, **fields: Any
) -> tuple[Contract, str]:
    """Create or update the contract with this external id; returns (contract, "created"|"updated"|"unchanged")."""
    return _child_sync(
        model=Contract,
        actor=actor,
        external_id=external_id,
        customer=customer,
        required=("started_at",),
        create=contract_create,
        update=lambda actor, contract, changed: contract_update(actor=actor, contract=contract, **changed),
        moved_error=_("A contract cannot be moved to another customer."),
        fields=fields,
    )


@transaction.atomic
def contact_delete(*, actor: AbstractBaseUser | None, contact: Contact) -> None:
    _require_can_work(actor, contact.customer)
    contact.delete()


@transaction.atomic
def order_delete(*, actor: AbstractBaseUser | None, order: Order) -> None:
    _require_can_work(actor, order.customer)
    order.delete()


@transaction.atomic
def contract_delete(*, actor: AbstractBaseUser | None, contract: Contract) -> None:
    _require_can_work(actor, contract.customer)
    contract.delete()


INTERACTION_EDITABLE_FIELDS = ("kind", "subject", "body", "happened_at")


@transaction.atomic
def interaction_update(*, actor: AbstractBaseUser | None, interaction: Interaction, **fields: Any) -> Interaction:
    """Correct a timeline entry; the author and the customer stay as recorded."""
    unknown = set(fields) - set(INTERACTION_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown interaction fields: {sorted(unknown)}")
    _require_can_work(actor, interaction.customer)
    for key in ("subject", "body"):
        if key in fields:
            fields[key] = (fields[key] or "").strip()
    for key, value in fields.items():
        setattr(interaction, key, value)
    _save_validated(interaction)
    return interaction


@transaction.atomic
def interaction_delete(*, actor: AbstractBaseUser | None, interaction: Interaction) -> None:
    _require_can_work(actor, interaction.customer)
    interaction.delete()
