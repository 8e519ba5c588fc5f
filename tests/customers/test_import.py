"""The CSV import service: formats, upserts, row errors, re-import idempotency, tasks."""

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from stdnum.br import cnpj as stdnum_cnpj
from stdnum.br import cpf as stdnum_cpf

from customers import importer, tasks
from customers.models import Consent, Contact, Contract, Customer, ImportJob, Order
from customers.validators import normalize_phone
from posvenda import events
from tests.factories import CustomerFactory, valid_cnpj, valid_cpf

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "import.md"


@pytest.fixture(autouse=True, params=["set_based", "python"])
def customers_path(request, monkeypatch):
    """Every test runs on both customers paths: set-based SQL on PostgreSQL and row-by-row Python
    (SQLite's; see also test_import_paths.py, which compares their results directly)."""
    monkeypatch.setattr(importer, "SET_BASED_CUSTOMERS", request.param == "set_based")
    return request.param


@pytest.fixture(autouse=True)
def english(settings):
    """Assertions read the English source strings, whatever catalogue pt-BR gets later."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def run(name, kind="customers", **kwargs):
    return importer.import_path(FIXTURES / name, kind, **kwargs)


def errors_of(job):
    return [(e["line"], e["column"], e["reason"]) for e in job.errors]


def test_good_file_creates_customers_with_owner_segment_tags_and_consent(agent, manager):
    job = run("customers_good.csv")

    assert (job.status, job.created_count, job.updated_count, job.error_count) == ("done", 3, 0, 0)
    ana = Customer.objects.get(external_id="C-001")
    assert (ana.kind, ana.document, ana.email, ana.phone) == (
        "person",
        "12345000198",
        "ana@example.com",
        "+5511987654321",
    )
    assert ana.owner == agent and ana.segment.name == "Varejo" and ana.mrr == Decimal("99.90")
    assert sorted(ana.tags.values_list("name", flat=True)) == ["Promotor", "VIP"]
    padaria = Customer.objects.get(external_id="C-002")
    assert (padaria.kind, padaria.document, padaria.owner, padaria.phone) == (
        "company",
        "11220001000168",
        manager,
        "+552132221000",
    )
    consents = {(c.customer.external_id, c.channel, c.purpose, c.granted, c.source) for c in Consent.objects.all()}
    assert consents == {
        ("C-001", "email", "marketing", True, "import"),
        ("C-002", "email", "marketing", False, "import"),
    }
    assert Customer.objects.get(external_id="C-003").owner is None


def test_reimporting_the_same_file_changes_nothing(agent, manager):
    run("customers_good.csv")
    before = dict(Customer.objects.values_list("external_id", "updated_at"))

    job = run("customers_good.csv")

    assert (job.created_count, job.updated_count, job.unchanged_count, job.error_count) == (0, 0, 3, 0)
    assert dict(Customer.objects.values_list("external_id", "updated_at")) == before
    assert Consent.objects.count() == 2


def test_changed_row_is_updated_and_an_empty_cell_keeps_the_stored_value(agent, manager, tmp_path):
    run("customers_good.csv")
    before = dict(Customer.objects.values_list("external_id", "updated_at"))
    changed = tmp_path / "changed.csv"
    changed.write_text("external_id,name,mrr,plan,tags\nC-001,Ana Souza,120.00,,VIP\nC-003,Bruno Lima,0,,\n")

    job = importer.import_path(changed, "customers")

    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 1, 1)
    ana = Customer.objects.get(external_id="C-001")
    assert ana.mrr == Decimal("120.00") and ana.plan == "Básico" and ana.updated_at > before["C-001"]
    assert list(ana.tags.values_list("name", flat=True)) == ["VIP"]
    assert Customer.objects.get(external_id="C-003").updated_at == before["C-003"]


def test_utf8_file_with_bom_is_read(agent, manager):
    job = run("customers_bom.csv")

    assert (job.status, job.created_count, job.error_count) == ("done", 3, 0)
    assert Customer.objects.filter(external_id="C-001").exists()


def test_mixed_file_imports_the_good_rows_and_reports_each_bad_row_with_line_column_and_reason(agent):
    job = run("customers_mixed.csv")

    assert job.status == "done"
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["M-001", "M-009"]
    assert Customer.objects.get(external_id="M-009").mrr == Decimal("1234.56")
    assert (job.created_count, job.error_count, job.processed_rows, job.total_rows) == (2, 8, 9, 9)
    assert errors_of(job) == [
        (3, "document", "invalid CPF"),
        (4, "email", "invalid e-mail address"),
        (5, "owner", "unknown owner 'ninguem': use the username or e-mail of a CS user"),
        (6, "external_id", "duplicate of line 2 (M-001)"),
        (7, "email", "duplicate of line 2 (carla@example.com)"),
        (8, "phone", "invalid phone number: use DDD + number, e.g. (11) 98765-4321"),
        (8, "mrr", "must not be negative"),
        (9, "name", "required for a new customer"),
    ]
    assert str(importer.RowError(3, "document", "invalid CPF")) == "line 3, column document: invalid CPF"


def test_small_chunks_give_the_same_result_as_one_chunk(agent):
    job = run("customers_mixed.csv", chunk_size=2)

    assert (job.created_count, job.error_count) == (2, 8)
    assert [e["line"] for e in job.errors] == [3, 4, 5, 6, 7, 8, 8, 9]


def test_latin1_semicolon_file_with_ptbr_headers_and_decimal_comma(manager):
    job = run("customers_latin1_semicolon.csv")

    assert (job.status, job.created_count, job.error_count) == ("done", 2, 0), job.errors
    jose = Customer.objects.get(external_id="L-001")
    assert (jose.name, jose.kind, jose.mrr, jose.owner) == ("José Conceição", "person", Decimal("1234.56"), manager)
    assert jose.segment.name == "Saúde"
    assert sorted(jose.tags.values_list("name", flat=True)) == ["Indicação", "VIP"]
    aco = Customer.objects.get(external_id="L-002")
    assert (aco.name, aco.kind, aco.mrr, aco.phone) == (
        "Indústria Aço S.A.",
        "company",
        Decimal("12500.00"),
        "+551134567890",
    )


def test_a_row_without_external_id_updates_the_customer_with_that_email(tmp_path):
    existing = CustomerFactory(email="lia@example.com", external_id=None, name="Lia", plan="Básico")
    path = tmp_path / "by_email.csv"
    path.write_text("email,name,plan\nLIA@example.com,Lia Martins,Pro\n")

    job = importer.import_path(path, "customers")

    assert (job.created_count, job.updated_count, job.error_count) == (0, 1, 0)
    existing.refresh_from_db()
    assert (existing.name, existing.plan, existing.external_id) == ("Lia Martins", "Pro", None)
    assert importer.import_path(path, "customers").unchanged_count == 1


def test_email_or_document_of_another_customer_is_a_row_error(tmp_path):
    CustomerFactory(external_id="X-1", email="taken@example.com", document=valid_cpf(900))
    path = tmp_path / "conflicts.csv"
    path.write_text(
        "external_id,name,email,document\n"
        f"X-2,Novo,taken@example.com,\nX-3,Outro,outro@example.com,{valid_cpf(900)}\nX-4,Bom,bom@example.com,\n"
    )

    job = importer.import_path(path, "customers")

    assert errors_of(job) == [
        (2, "email", "this e-mail already belongs to another customer"),
        (3, "document", "this document already belongs to another customer"),
    ]
    assert job.created_count == 1 and Customer.objects.filter(external_id="X-4").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00binary", "spreadsheet (Excel) file"),
        (b"\x00\x01\x02\x03\x00", "not a CSV text file"),
        (b"foo;bar\n1;2\n", "No known column in the first line"),
        (b"", "The file is empty"),
        (b"name,phone\nAna,11987654321\n", "needs at least one of the columns external_id, email or document"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_fails_the_job_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)

    job = importer.import_path(path, "customers")

    assert job.status == "failed"
    assert message in job.message
    assert Customer.objects.count() == 0


def test_contacts_file_links_contacts_by_customer_external_id_or_email(agent, manager):
    run("customers_good.csv")

    job = run("contacts.csv", "contacts")

    assert (job.created_count, job.error_count) == (2, 1)
    assert errors_of(job) == [(4, "customer_external_id", "unknown customer 'C-404'")]
    padaria = Customer.objects.get(external_id="C-002")
    assert list(padaria.contacts.values_list("external_id", "is_primary", "phone")) == [
        ("K-001", True, "+5521998761234"),
        ("K-002", False, ""),
    ]
    assert run("contacts.csv", "contacts").unchanged_count == 2


def test_a_new_primary_contact_demotes_the_stored_one(agent, manager, tmp_path):
    run("customers_good.csv")
    run("contacts.csv", "contacts")
    path = tmp_path / "primary.csv"
    path.write_text("external_id,customer_external_id,principal\nK-002,C-002,sim\n")

    job = importer.import_path(path, "contacts")

    assert job.updated_count == 1
    assert dict(Contact.objects.values_list("external_id", "is_primary")) == {"K-001": False, "K-002": True}


def test_orders_file_with_ptbr_dates_amounts_and_choices(agent, manager):
    run("customers_good.csv")

    job = run("orders.csv", "orders")

    assert (job.created_count, job.error_count) == (2, 2)
    assert errors_of(job) == [
        (4, "data", "invalid date (use dd/mm/yyyy or yyyy-mm-dd)"),
        (5, "valor", "not a number (use 1.234,56 or 1234.56)"),
    ]
    first = Order.objects.get(external_id="P-001")
    assert (first.amount, first.status, first.channel, first.customer.external_id) == (
        Decimal("1234.56"),
        "paid",
        "online",
        "C-001",
    )
    assert timezone.localtime(first.purchased_at).strftime("%Y-%m-%d %H:%M") == "2025-03-05 00:00"
    second = Order.objects.get(external_id="P-002")
    assert (second.status, second.channel, second.amount) == ("pending", "whatsapp", Decimal("89.90"))
    assert timezone.localtime(second.purchased_at).strftime("%Y-%m-%d %H:%M") == "2025-03-06 14:30"
    before = dict(Order.objects.values_list("external_id", "updated_at"))
    again = run("orders.csv", "orders")
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    assert dict(Order.objects.values_list("external_id", "updated_at")) == before


def test_contracts_file_checks_dates_and_cancellation(agent, manager):
    run("customers_good.csv")

    job = run("contracts.csv", "contracts")

    assert job.created_count == 2
    assert errors_of(job) == [
        (4, "fim", "the contract cannot end before it starts"),
        (5, "cancelado_em", "a cancelled contract needs the cancellation date"),
    ]
    cancelled = Contract.objects.get(external_id="CT-002")
    assert (str(cancelled.cancelled_at), cancelled.cancel_reason, cancelled.auto_renew, cancelled.renewals) == (
        "2024-06-15",
        "Preço",
        False,
        1,
    )
    assert Contract.objects.get(external_id="CT-001").mrr == Decimal("1890.00")
    assert run("contracts.csv", "contracts").unchanged_count == 2


def test_created_customers_are_announced_once_per_chunk_for_the_funnel(
    agent, manager, django_capture_on_commit_callbacks
):
    seen = []

    def handler(event, customer_ids, import_job_id):
        seen.append(sorted(customer_ids))

    events.subscribe(importer.CUSTOMERS_IMPORTED, handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run("customers_good.csv", chunk_size=2)
            run("customers_good.csv", chunk_size=2)
    finally:
        events.unsubscribe(importer.CUSTOMERS_IMPORTED, handler)

    ids = sorted(Customer.objects.values_list("pk", flat=True))
    assert seen == [ids[:2], ids[2:]]


def test_import_task_run_twice_does_the_work_once(agent, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with (FIXTURES / "customers_good.csv").open("rb") as fh:
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("clientes.csv", fh.read(), content_type="text/csv")
    job = importer.import_job_create(actor=manager, kind="customers", upload=upload)

    first = tasks.import_run(job.pk)
    second = tasks.import_run(job.pk)

    job.refresh_from_db()
    assert (first, second) == ("done", "skipped")
    assert (job.status, job.created_count, job.processed_rows) == ("done", 3, 3)
    assert Customer.objects.count() == 3


def test_an_agent_cannot_create_an_import(agent):
    with pytest.raises(importer.PermissionDenied):
        importer.import_job_create(actor=agent, kind="customers")
    with pytest.raises(ValidationError):
        importer.import_job_create(actor=None, kind="pets")


def test_fail_stale_imports_fails_only_old_unfinished_jobs_and_is_safe_twice():
    old = timezone.now() - timedelta(minutes=31)
    stale_running = ImportJob.objects.create(kind="customers", status="running")
    stale_pending = ImportJob.objects.create(kind="customers", status="pending")
    fresh = ImportJob.objects.create(kind="customers", status="running")
    done = ImportJob.objects.create(kind="customers", status="done")
    ImportJob.objects.filter(pk__in=[stale_running.pk, stale_pending.pk, done.pk]).update(updated_at=old)

    assert tasks.fail_stale_imports() == 2
    assert tasks.fail_stale_imports() == 0

    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert statuses == {stale_running.pk: "failed", stale_pending.pk: "failed", fresh.pk: "running", done.pk: "done"}
    assert "no progress for 30 minutes" in ImportJob.objects.get(pk=stale_running.pk).message


def test_fast_document_checks_agree_with_stdnum():
    rng = random.Random(7)
    cpfs = [f"{rng.randrange(10**11):011d}" for _ in range(3000)] + [valid_cpf(n) for n in range(500)]
    cnpjs = [f"{rng.randrange(10**14):014d}" for _ in range(3000)] + ["00000000000000", "11111111111111"]
    cnpjs += [valid_cnpj(n) for n in range(500)]
    for number in [*cpfs, "00000000000", "11111111111"]:
        assert importer.cpf_is_valid(number) == stdnum_cpf.is_valid(number), number
    for number in cnpjs:
        assert importer.cnpj_is_valid(number) == stdnum_cnpj.is_valid(number), number


@pytest.mark.parametrize(
    "raw",
    [
        "(11) 98765-4321",
        "11987654321",
        "+55 11 98765-4321",
        "5511987654321",
        "011 98765-4321",
        "(21) 3222-1000",
        "0 11 3456-7890",
        "+1 415 555 2671",
        "(10) 98765-4321",
        "(11) 1234-5678",
        "12345",
    ],
)
def test_fast_phone_path_agrees_with_phonenumbers(raw):
    try:
        expected = normalize_phone(raw)
    except ValidationError:
        expected = None
    try:
        got = importer.fast_phone(raw)
    except ValidationError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1.234,56", "1234.56"),
        ("1234,5", "1234.50"),
        ("1234.56", "1234.56"),
        ("R$ 1.234.567,89", "1234567.89"),
        ("1.234", "1234.00"),
        ("0", "0.00"),
    ],
)
def test_amounts_in_brazilian_and_dot_formats(raw, amount):
    assert importer.parse_amount(raw) == Decimal(amount)


@pytest.mark.parametrize("raw", ["abc", "-1,00", "1,234", "12.3.4,5,6"])
def test_bad_amounts_are_refused(raw):
    with pytest.raises(ValueError):
        importer.parse_amount(raw)


def test_every_column_and_alias_is_documented():
    docs = DOCS.read_text(encoding="utf-8")
    for columns in importer.COLUMNS.values():
        for canonical, aliases in columns.items():
            for alias in (canonical, *aliases):
                assert f"`{alias}`" in docs, alias


def test_the_fixture_files_are_the_documented_examples():
    docs = DOCS.read_text(encoding="utf-8")
    for name in ("customers_good.csv", "contacts.csv", "orders.csv", "contracts.csv"):
        assert f"tests/fixtures/{name}" in docs
