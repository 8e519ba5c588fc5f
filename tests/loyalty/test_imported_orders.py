"""Imported orders earn their points once, however often the file is imported."""

from decimal import Decimal
from pathlib import Path

import pytest

from customers import importer
from customers.models import Order
from loyalty import services, tasks
from loyalty.models import Entry, Programme
from posvenda import events

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def imported(django_capture_on_commit_callbacks):
    """What the orders_imported events of an import carried (order ids, reversed ids)."""
    seen: list[tuple[list[int], list[int]]] = []

    def record(*, event, order_ids, reversed_order_ids, **_):
        seen.append((order_ids, reversed_order_ids))

    events.subscribe(events.ORDERS_IMPORTED, record)
    yield seen
    events.unsubscribe(events.ORDERS_IMPORTED, record)


def test_imported_orders_earn_points_once_and_refunds_reverse(
    tmp_path, imported, agent, manager, django_capture_on_commit_callbacks
):
    Programme.objects.all().delete()
    Programme.objects.create(points_per_real=Decimal("1"))
    with django_capture_on_commit_callbacks(execute=True):
        importer.import_path(FIXTURES / "customers_good.csv", "customers")
        importer.import_path(FIXTURES / "orders.csv", "orders")
    [(order_ids, reversed_ids)] = imported
    p1 = Order.objects.get(external_id="P-001")  # R$ 1.234,56 paid
    assert sorted(order_ids) == sorted(Order.objects.values_list("pk", flat=True)) and reversed_ids == []

    tasks.reward_imported_orders(order_ids, reversed_ids)
    tasks.reward_imported_orders(order_ids, reversed_ids)  # the task retried
    account = services.account_for(p1.customer)
    # P-001 R$ 1,234.56 → 1,234 points; P-002 R$ 89.90 (same customer, pending) → 89 points
    assert services.balance(account) == Decimal("1323")

    # the same file again: nothing changed, no event; then P-001 refunded in a new file
    with django_capture_on_commit_callbacks(execute=True):
        importer.import_path(FIXTURES / "orders.csv", "orders")
    assert len(imported) == 1
    refund = tmp_path / "refund.csv"
    refund.write_text("pedido;cliente_id_externo;status\nP-001;C-001;reembolsado\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        job = importer.import_path(refund, "orders")
    assert job.updated_count == 1, job.errors
    _, reversed_now = imported[-1]
    tasks.reward_imported_orders([], reversed_now)
    tasks.reward_imported_orders([], reversed_now)
    assert services.balance(account) == Decimal("89")
    assert Entry.objects.filter(kind="reverse").count() == 1
