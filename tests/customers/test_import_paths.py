"""Customers import: the set-based PostgreSQL path (customers/importer_pg.py) and the row-by-row
Python path (customers/importer.py, also SQLite's) give the same result on the same files.

Each case runs the same import twice from the same database state (the first run is rolled back):
once per path, and compares what a user gets — the job's counters, messages and row errors — and
what ends up stored: every customer's fields, tags and consents, and which customers were touched.
"""

import random
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone, translation

from customers import importer, importer_pg
from customers.models import Consent, Customer, ImportJob
from tests.factories import CustomerFactory, valid_cnpj, valid_cpf

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HEADER = (
    "external_id,name,kind,document,email,phone,owner,segment,tags,plan,mrr,language,"
    "consentimento_whatsapp_pesquisas,consent_email"
)


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def staged(monkeypatch):
    """Records whether each set-based run really ran set-based (None = fell back to Python)."""
    outcomes = []
    real = importer_pg.run_customers

    def spy(**kwargs):
        job = real(**kwargs)
        outcomes.append(job is not None)
        return job

    monkeypatch.setattr(importer_pg, "run_customers", spy)
    return outcomes


class _Rollback(Exception):
    pass


def _snapshot(started):
    customers = {}
    for c in Customer.objects.select_related("segment", "owner").prefetch_related("tags").order_by("pk"):
        key = c.external_id or c.email or c.document
        customers[key] = {
            "kind": c.kind,
            "name": c.name,
            "document": c.document,
            "email": c.email,
            "phone": c.phone,
            "owner": c.owner.username if c.owner else None,
            "segment": c.segment.name if c.segment else None,
            "plan": c.plan,
            "mrr": c.mrr,
            "external_id": c.external_id,
            "language": c.language,
            "tags": sorted(t.name for t in c.tags.all()),
            "touched": c.updated_at >= started,
        }
    consents = sorted(
        (c.customer.external_id or c.customer.email, c.channel, c.purpose, c.granted, c.source, c.evidence[-9:])
        for c in Consent.objects.select_related("customer")
    )
    return customers, consents


def _job(job: ImportJob):
    return {
        "status": job.status,
        "counts": (job.created_count, job.updated_count, job.unchanged_count, job.error_count),
        "rows": (job.processed_rows, job.total_rows),
        "errors": [(e["line"], e["column"], e["reason"]) for e in job.errors],
        "message": job.message,
    }


def both_paths(monkeypatch, staged, path, *, before=None, chunk_size=importer.CHUNK_SIZE):
    """Import `path` with each path from the same state; return the (equal) outcome."""
    outcomes = {}
    for set_based in (False, True):
        monkeypatch.setattr(importer, "SET_BASED_CUSTOMERS", set_based)
        try:
            with transaction.atomic():
                if before:
                    before()
                started = timezone.now()
                job = importer.import_path(path, "customers", chunk_size=chunk_size)
                outcomes[set_based] = (_job(job), *_snapshot(started))
                raise _Rollback
        except _Rollback:
            pass
    assert staged and all(staged), "the set-based path did not run (or fell back to Python)"
    python, sql = outcomes[False], outcomes[True]
    assert sql[0] == python[0]  # the job: counts, row errors, message
    assert sql[1] == python[1]  # the customers
    assert sql[2] == python[2]  # the consents
    return python


@pytest.mark.parametrize("chunk_size", [2, 5000])
@pytest.mark.parametrize(
    "name", ["customers_good.csv", "customers_mixed.csv", "customers_latin1_semicolon.csv", "customers_bom.csv"]
)
def test_the_fixture_files_give_the_same_result_on_both_paths(agent, manager, monkeypatch, staged, name, chunk_size):
    job, customers, _consents = both_paths(monkeypatch, staged, FIXTURES / name, chunk_size=chunk_size)

    assert job["status"] == "done" and customers  # something was imported


def test_reimporting_and_changing_give_the_same_result_on_both_paths(agent, manager, monkeypatch, staged, tmp_path):
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "external_id,name,mrr,plan,tags,consent_email,owner\n"
        "C-001,Ana Souza,120.00,,VIP,sim,\n"  # mrr and tags change, consent already granted
        "C-002,Padaria Pão Quente Ltda.,1890.00,,VIP,sim,\n"  # only the consent changes
        "C-003,Bruno Lima,0,,|,,agente\n"  # tags cleared, owner set
    )

    def before():
        importer.import_path(FIXTURES / "customers_good.csv", "customers")

    job, customers, consents = both_paths(monkeypatch, staged, changed, before=before)

    assert job["counts"] == (0, 3, 0, 0)
    assert customers["C-003"]["owner"] == "agente" and customers["C-003"]["tags"] == []
    assert ("C-002", "email", "marketing", True, "import", "), line 3") in consents


def test_reimporting_the_same_file_changes_nothing_on_both_paths(agent, manager, monkeypatch, staged):
    def before():
        importer.import_path(FIXTURES / "customers_good.csv", "customers")

    job, customers, _consents = both_paths(monkeypatch, staged, FIXTURES / "customers_good.csv", before=before)

    assert job["counts"] == (0, 0, 3, 0)
    assert not any(c["touched"] for c in customers.values())


ODD_ROWS = [
    # kinds, documents and accents
    f'O-01,José Conceição,Pessoa Física,{valid_cpf(11)},JOSE@Example.COM,(11) 98765-4321,AGENTE,Saúde,VIP,,"1.234,56",pt-BR,sim,Não',
    f"O-02,Indústria Aço,PESSOA JURÍDICA,{valid_cnpj(12)},compras@aco.example.com,0 11 3456-7890,gerente,,,,R$ 12.500,00,Inglês,,",
    f"O-03,Empresa B2B,b2b,CNPJ {valid_cnpj(13)},b2b@example.com,+55 (21) 3222-1000,,,,,1.234,,,",
    f"O-04,Pessoa com CNPJ,PF,{valid_cnpj(14)},pf@example.com,,,,,,,,,",
    "O-05,CPF inválido,,123.450.001-99,inv@example.com,,,,,,,,,",
    "O-06,Documento curto,,12345,curto@example.com,,,,,,,,,",
    "O-07,Dígitos largos,,１２３４５６７８９０１,largo@example.com,,,,,,,,,",
    # e-mails
    "O-08,Acento no e-mail,,,josé@exemplo.com.br,,,,,,,,,",
    "O-09,E-mail ruim,,,ruim@,,,,,,,,,",
    "O-10,TLD curta,,,a@b.c,,,,,,,,,",
    # phones
    "O-11,Telefone EUA,,,eua@example.com,+1 415 555 2671,,,,,,,,",
    "O-12,Telefone curto,,,curto2@example.com,123,,,,,,,,",
    "O-13,Telefone 55,,,t55@example.com,5511987654321,,,,,,,,",
    "O-14,Fixo sem nono,,,fixo@example.com,11 2345 678,,,,,,,,",
    "O-15,Celular sem DDD,,,semddd@example.com,98765-4321,,,,,,,,",
    # owners, segments, tags
    "O-16,Dono por e-mail,,,dono@example.com,,ninguem,,,,,,,",
    "O-17,Segmento longo,,,seg@example.com,,," + "S" * 81 + ",,,,,,",
    'O-18,Etiquetas,,,tags@example.com,,,," VIP | Promotor;VIP,,",,,,,',
    "O-19,Etiqueta longa,,,tagl@example.com,,,," + "T" * 51 + ",,,,,",
    "O-20,Etiquetas vazias,,,tagv@example.com,,,, | ; ,,,,,",
    # amounts
    'O-21,Valor 1,,,v1@example.com,,,,,,"12,5",,,',
    "O-22,Valor 2,,,v2@example.com,,,,,,12.345,,,",
    'O-23,Valor 3,,,v3@example.com,,,,,,"-1,00",,,',
    'O-24,Valor 4,,,v4@example.com,,,,,,"1,234",,,',
    "O-25,Valor 5,,,v5@example.com,,,,,,99999999999,,,",
    "O-26,Valor 6,,,v6@example.com,,,,,,10.999,,,",
    "O-27,Valor 7,,,v7@example.com,,,,,,1e3,,,",
    "O-28,Valor 8,,,v8@example.com,,,,,,1_000,,,",
    "O-29,Valor 9,,,v9@example.com,,,,,,\u00a01.000\u00a0,,,",
    "O-30,Valor 10,,,v10@example.com,,,,,,1.2300,,,",
    # languages, consents, whitespace, lengths
    "O-31,Idioma,,,idioma@example.com,,,,,,,klingon,talvez,",
    "O-32,\u00a0Espaços Unicode\u2003,\u2003pj\u00a0,\u00a0" + valid_cnpj(32) + "\u3000,esp@example.com,,,,,,,,,",
    "O-" + "9" * 99 + ",Id longo,,,idlongo@example.com,,,,,,,,,",
    "O-34," + "N" * 201 + ",,,nome@example.com,,,,,,,,,",
    ",Sem chave,,,,,,,,,,,,",
    # duplicates inside the file (e-mail case, document formatting) and a short row
    "O-01,Repetido,,,outro@example.com,,,,,,,,,",
    f"O-37,Doc repetido,,{valid_cpf(11)},doc@example.com,,,,,,,,,",
    "O-38,E-mail repetido,,,jose@example.com,,,,,,,,,",
    "O-39,Linha curta,,,curta@example.com",
    "",
    "O-40,Depois da linha vazia,PJ,,vazia@example.com,,,,,,,,,",
]


def test_odd_cells_give_the_same_values_and_errors_on_both_paths(agent, manager, monkeypatch, staged, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(HEADER + "\n" + "\n".join(ODD_ROWS) + "\n", encoding="utf-8")

    job, customers, consents = both_paths(monkeypatch, staged, path)

    assert job["counts"][0] > 10 and job["counts"][3] > 10  # both good rows and errors
    assert customers["O-01"]["email"] == "jose@example.com" and customers["O-01"]["owner"] == "agente"
    assert customers["O-08"]["email"] == "josé@exemplo.com.br"  # validated by the Python fallback
    assert customers["O-18"]["tags"] == ["Promotor", "VIP"]
    assert ("O-01", "whatsapp", "surveys", True, "import", "), line 2") in consents


def test_matching_stored_customers_gives_the_same_result_on_both_paths(agent, manager, monkeypatch, staged, tmp_path):
    def before():
        CustomerFactory(external_id="S-1", email="taken@example.com", document=valid_cpf(900), name="Guardado")
        CustomerFactory(external_id=None, email="manual@example.com", document=valid_cpf(901), name="Manual")
        CustomerFactory(external_id=None, email="semid@example.com", document=valid_cnpj(902), kind="company", name="S")
        CustomerFactory(external_id="S-4", email="s4@example.com", document=valid_cpf(904), name="Quatro")

    path = tmp_path / "stored.csv"
    path.write_text(
        "external_id,name,email,document,kind,plan\n"
        "N-1,Novo,taken@example.com,,,\n"  # another customer's e-mail
        f"N-2,Outro,outro@example.com,{valid_cpf(900)},,\n"  # another customer's document
        "N-3,Manual ligado,manual@example.com,,,Pro\n"  # takes over the customer without external_id
        f",Por documento,,{valid_cnpj(902)},,Básico\n"  # no external_id: matched by document
        "S-4,Quatro,,,PJ,\n"  # kind against the stored CPF
        "S-1,Guardado,,,,Pro\n"
        "N-7,Mesmo cliente,s1-bis@example.com,,,\n"
        f"N-8,Via documento de S-4,,{valid_cpf(904)},,\n"  # S-4 has an external_id: conflict
        ",Sem id,SEMID@example.com,,,Enterprise\n"  # same customer as the document row above
    )

    job, customers, _consents = both_paths(monkeypatch, staged, path, before=before)

    assert job["counts"][3] >= 4
    assert customers["N-3"]["plan"] == "Pro" and customers["N-3"]["email"] == "manual@example.com"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_files_give_the_same_result_on_both_paths(agent, manager, monkeypatch, staged, tmp_path, seed):
    rng = random.Random(seed)
    cells = {
        "external_id": ["", "R-1", "R-2", "R-3", "S-1", " R-4 ", "R-5", "R-6", "R-7", "R-8", "R-9"],
        "name": ["", "Ana", "Bruno Lima", "Émile Zola", " Carla ", "N" * 201],
        "kind": ["", "", "PF", "PJ", "pessoa física", "Empresa", "x"],
        "document": ["", "", valid_cpf(1), valid_cpf(2), valid_cnpj(3), "123.450.001-99", valid_cpf(900)],
        "email": ["", "a@example.com", "A@Example.com", "b@example.com", "bad", "taken@example.com"],
        "phone": ["", "(11) 98765-4321", "+55 21 3222-1000", "123", "+1 415 555 2671", "0 11 3456-7890"],
        "owner": ["", "", "agente", "GERENTE", "ninguem"],
        "segment": ["", "Varejo", "PME", "S" * 81],
        "tags": ["", "VIP", "VIP|Promotor", " ; ", "Promotor, VIP ,Novo", "T" * 51],
        "plan": ["", "Pro", "Básico"],
        "mrr": ["", "0", "10.5", "1.234,56", "-1", "abc", "R$ 99,90", "1.000"],
        "language": ["", "pt-BR", "en", "inglês", "xx"],
        "consentimento_whatsapp_pesquisas": ["", "sim", "não", "talvez"],
        "consent_email": ["", "s", "n"],
    }

    def before():
        CustomerFactory(external_id="S-1", email="taken@example.com", document=valid_cpf(900), name="Guardado")
        CustomerFactory(external_id=None, email="b@example.com", document="", name="Sem id")

    lines = [HEADER]
    for _ in range(60):
        row = [rng.choice(values) for values in cells.values()]
        lines.append(",".join(f'"{v}"' for v in row))
    path = tmp_path / f"random{seed}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    job, _customers, _consents = both_paths(monkeypatch, staged, path, before=before)

    assert job["rows"] == (60, 60)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_chunks_are_written_by_parallel_writers_with_the_same_result(agent, manager):
    """The command and the Celery task run outside a transaction: two writer threads, each on its
    own connection, write the chunks (the tests above run inside one, on a single connection)."""
    seen = []
    real = importer_pg._SetBasedCustomers.apply_chunk

    def spy(self, chunk):
        seen.append((self.writers, threading.current_thread().name))
        return real(self, chunk)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(importer_pg._SetBasedCustomers, "apply_chunk", spy)
        job = importer.import_path(FIXTURES / "customers_mixed.csv", "customers", chunk_size=2)

    assert {writers for writers, _name in seen} == {2}
    assert all(name.startswith("import-writer-") for _writers, name in seen) and len(seen) == 5
    assert (job.status, job.created_count, job.error_count, job.processed_rows) == ("done", 2, 8, 9)
    assert [(e["line"], e["column"]) for e in job.errors] == [
        (3, "document"),
        (4, "email"),
        (5, "owner"),
        (6, "external_id"),
        (7, "email"),
        (8, "phone"),
        (8, "mrr"),
        (9, "name"),
    ]
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["M-001", "M-009"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '\\_import\\_%%'")
        assert cursor.fetchone()[0] == 0  # the work tables are dropped

    again = importer.import_path(FIXTURES / "customers_mixed.csv", "customers", chunk_size=2)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    good = importer.import_path(FIXTURES / "customers_good.csv", "customers", chunk_size=2)
    assert (good.created_count, good.error_count) == (3, 0)
    assert sorted(Consent.objects.values_list("customer__external_id", "granted")) == [
        ("C-001", True),
        ("C-002", False),
    ]
    assert sorted(Customer.objects.get(external_id="C-001").tags.values_list("name", flat=True)) == ["Promotor", "VIP"]


def test_a_row_the_database_refuses_is_reported_and_the_others_imported_on_both_paths(
    agent, manager, monkeypatch, staged, tmp_path
):
    def before():
        # A rule only the database knows: the chunk's batch write fails and is retried row by row.
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE customers_customer ADD CONSTRAINT test_import_refused CHECK (plan <> 'Recusado')"
            )
        CustomerFactory(external_id="R-1", email="r1@example.com", plan="Pro", name="Guardado", document=valid_cpf(777))

    path = tmp_path / "refused.csv"
    path.write_text(
        "external_id,name,email,plan\n"
        "R-1,Atualizado,r1@example.com,Recusado\n"  # an update the database refuses
        "R-2,Novo,r2@example.com,Pro\n"
        "R-3,Também novo,r3@example.com,Recusado\n"  # a new row the database refuses
        "R-4,Outro novo,r4@example.com,\n"
    )

    job, customers, _consents = both_paths(monkeypatch, staged, path, before=before, chunk_size=2)

    assert job["counts"] == (2, 0, 0, 2)
    assert [(line, column) for line, column, _reason in job["errors"]] == [(2, ""), (4, "")]
    assert all("test_import_refused" in reason for _line, _column, reason in job["errors"])
    assert sorted(customers) == ["R-1", "R-2", "R-4"] and customers["R-1"]["plan"] == "Pro"


def test_failing_a_stale_import_drops_the_work_tables_its_dead_worker_left():
    stale = ImportJob.objects.create(kind="customers", status="running")
    fresh = ImportJob.objects.create(kind="customers", status="running")
    ImportJob.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - importer.STALE_AFTER * 2)
    with connection.cursor() as cursor:
        for job in (stale, fresh):
            cursor.execute(f"CREATE UNLOGGED TABLE {importer_pg.work_tables(job.pk)[-2]} (seq integer)")

    assert importer.import_jobs_fail_stale() == 1

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE '\\_import\\_%%' ORDER BY relname")
        assert [name for (name,) in cursor.fetchall()] == [f"_import_{fresh.pk}_plan"]


def test_a_file_with_only_the_header_gives_the_same_result_on_both_paths(monkeypatch, staged, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n\n")

    job, customers, _consents = both_paths(monkeypatch, staged, path)

    assert (job["status"], job["counts"], job["rows"]) == ("done", (0, 0, 0, 0), (0, 0)) and not customers
