"""Reviews CSV import (metrics.reviews.review_import; columns in docs/import.md "Reviews"):
good, bad and mixed files, Latin-1 with semicolons, re-imports that change nothing, roles."""

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from customers.importer import ImportFileError
from metrics import reviews
from metrics.models import Review
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SP = ZoneInfo("America/Sao_Paulo")

GOOD = """source,rating,grade_10,reviewed_at,author,title,text,url,external_id,customer_external_id,customer_email
google,5,,02/03/2025,Ana Souza,Excelente,Entrega rápida.,https://maps.google.com/?cid=1,g-1,C-001,
Reclame Aqui,,8,2025-03-03 14:30,Bruno,Resolvido,"Troca feita, em dois dias.",,ra-1,,bruno@example.com
loja,"4,5",,2025-03-04T10:00:00-03:00,,,,,s-1,,
"""


def run(content: str | bytes, actor=None) -> reviews.ReviewImportResult:
    data = content.encode("utf-8") if isinstance(content, str) else content
    with translation.override("en"):
        return reviews.review_import(actor=actor, fh=io.BytesIO(data))


def errors(result) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.reason) for e in result.errors]


@pytest.fixture
def customers():
    return (
        CustomerFactory(external_id="C-001", email="ana@example.com"),
        CustomerFactory(external_id="C-002", email="Bruno@Example.com"),
    )


def test_a_good_file_creates_every_review(customers, manager):
    ana, bruno = customers

    result = run(GOOD, manager)

    assert (result.rows, result.created, result.updated, result.unchanged, result.errors) == (3, 3, 0, 0, [])
    assert (result.encoding, result.delimiter) == ("UTF-8", "comma (,)")
    google = Review.objects.get(external_id="g-1")
    assert (google.source, google.rating, google.customer, google.author) == (
        "google",
        Decimal("5.0"),
        ana,
        "Ana Souza",
    )
    assert google.reviewed_at == datetime(2025, 3, 2, 0, 0, tzinfo=SP)  # a date alone is local midnight
    assert google.created_by == manager
    ra = Review.objects.get(external_id="ra-1")
    # grade 8 of 10 → 4.0 stars; the customer found by e-mail whatever its case
    assert (ra.source, ra.rating, ra.customer, ra.text) == (
        "reclame_aqui",
        Decimal("4.0"),
        bruno,
        "Troca feita, em dois dias.",
    )
    assert ra.reviewed_at == datetime(2025, 3, 3, 14, 30, tzinfo=SP)
    store = Review.objects.get(external_id="s-1")
    assert (store.source, store.rating, store.customer) == ("store", Decimal("4.5"), None)


def test_importing_the_same_file_again_changes_nothing(customers, manager):
    run(GOOD, manager)
    before = list(Review.objects.order_by("id").values())

    again = run(GOOD, manager)

    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 3, [])
    assert list(Review.objects.order_by("id").values()) == before


def test_a_changed_row_updates_its_review_and_an_empty_cell_keeps_the_stored_value(customers, manager):
    run(GOOD, manager)

    result = run("external_id,rating,author\ng-1,3,\n", manager)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    google = Review.objects.get(external_id="g-1")
    assert (google.rating, google.author) == (Decimal("3.0"), "Ana Souza")


def test_a_latin1_semicolon_file_with_portuguese_headers_is_read():
    content = (
        "ID Externo;Fonte;Nota;Data;Autor;Título;Comentário\n"
        "ra-9;Reclame Aqui;4,5;05/03/2025 09:15;José Conceição;Ótimo;Atendimento à distância\n"
        "g-9;Google;3;06/03/2025;Márcia;;\n"
    ).encode("cp1252")

    result = run(content)

    assert (result.created, result.errors) == (2, [])
    assert (result.encoding, result.delimiter) == ("Latin-1 (Windows-1252)", "semicolon (;)")
    ra = Review.objects.get(external_id="ra-9")
    assert (ra.rating, ra.author, ra.title, ra.text) == (
        Decimal("4.5"),
        "José Conceição",
        "Ótimo",
        "Atendimento à distância",
    )
    assert ra.reviewed_at == datetime(2025, 3, 5, 9, 15, tzinfo=SP)


def test_a_bad_file_reports_each_row_with_line_column_and_reason(customers):
    content = (
        "external_id,source,rating,grade_10,reviewed_at,url,customer_external_id\n"
        ",google,4,,02/03/2025,,\n"  # line 2: no external id
        "b-3,facebook,4,,02/03/2025,,\n"  # line 3: unknown source
        "b-4,google,7,,02/03/2025,,\n"  # line 4: a 0–10 grade in the stars column
        "b-5,google,4.25,,02/03/2025,,\n"  # line 5: two decimals
        "b-6,google,quatro,,02/03/2025,,\n"  # line 6: not a number
        "b-7,google,4,,31/02/2025,,\n"  # line 7: no such date
        "b-8,google,4,,02/03/2099,,\n"  # line 8: in the future
        "b-9,google,4,,02/03/2025,,C-404\n"  # line 9: unknown customer
        "b-10,google,4,,02/03/2025,ftp://x,\n"  # line 10: not a web link
        "b-11,,,,,,\n"  # line 11: a new review needs source, rating and date
        "b-12,reclame_aqui,5,8,02/03/2025,,\n"  # line 12: 5 stars is not grade 8 (4.0)
        "b-13,reclame_aqui,,11,02/03/2025,,\n"  # line 13: grade above 10
    )

    result = run(content)

    assert (result.created, result.rows) == (0, 12)
    assert errors(result) == [
        (2, "external_id", "required"),
        (
            3,
            "source",
            "unknown source 'facebook': use one of google, reclame_aqui, app_store, play_store, "
            "marketplace, store, other",
        ),
        (4, "rating", "Must be between 0 and 5"),
        (5, "rating", "At most one decimal place"),
        (6, "rating", "not a number (use 4,5 or 4.5)"),
        (7, "reviewed_at", "invalid date (use dd/mm/yyyy or yyyy-mm-dd)"),
        (8, "reviewed_at", "A review cannot be dated in the future"),
        (9, "customer_external_id", "unknown customer 'C-404'"),
        (10, "url", "Enter a full web address starting with https://"),
        (11, "source", "required for a new review"),
        (11, "reviewed_at", "required for a new review"),
        (11, "rating", "required for a new review"),
        (12, "grade_10", "Grade 8 out of 10 is 4.0 stars, not 5: give only one of the two"),
        (13, "grade_10", "Must be between 0 and 10"),
    ]
    assert not Review.objects.exists()


def test_a_mixed_file_imports_the_good_rows_and_reports_the_bad_ones():
    content = (
        "external_id,source,rating,reviewed_at,text\n"
        'm-1,google,5,01/03/2025,"Two lines:\nstill the same review"\n'  # lines 2–3
        "m-2,google,9,01/03/2025,\n"  # line 4: bad
        "\n"  # line 5: blank, skipped
        "m-3,play_store,2,01/03/2025,\n"  # line 6
        "m-1,google,1,01/03/2025,\n"  # line 7: the same external id again
    )

    result = run(content)

    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert errors(result) == [
        (4, "rating", "Must be between 0 and 5"),
        (7, "external_id", "duplicate of line 3 (m-1)"),
    ]
    assert set(Review.objects.values_list("external_id", flat=True)) == {"m-1", "m-3"}
    assert Review.objects.get(external_id="m-1").text == "Two lines:\nstill the same review"


def test_an_agent_imports_new_reviews_but_cannot_change_stored_ones(agent):
    run("external_id,source,rating,reviewed_at\nk-1,google,4,01/03/2025\n", agent)

    result = run("external_id,source,rating,reviewed_at\nk-1,google,2,01/03/2025\nk-2,google,5,01/03/2025\n", agent)

    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    assert errors(result) == [(2, "external_id", "only a CS manager can change an existing review")]
    assert Review.objects.get(external_id="k-1").rating == Decimal("4.0")


def test_an_agent_may_re_import_an_unchanged_file(agent):
    content = "external_id,source,rating,reviewed_at\nk-1,google,4,01/03/2025\n"
    run(content, agent)

    again = run(content, agent)

    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 1, [])


def test_the_column_named_in_an_error_is_the_files_own_header():
    result = run("ID Externo;Fonte;Nota;Data\nx-1;Google;6;01/03/2025\n".encode("cp1252"))

    assert errors(result) == [(2, "Nota", "Must be between 0 and 5")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04rest-of-an-xlsx", "This is a spreadsheet (Excel) file, not a CSV"),
        (b"produto,quantidade\nKit,3\n", "No known column in the first line"),
        (b"source,rating,reviewed_at\ngoogle,4,01/03/2025\n", "Missing required column: external_id"),
    ],
)
def test_a_file_that_is_no_reviews_csv_fails_as_a_whole(content, message):
    with pytest.raises(ImportFileError) as exc:
        run(content)

    assert message in str(exc.value)
    assert not Review.objects.exists()
