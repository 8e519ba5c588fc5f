"""manage.py import_csv: progress, summary, error report, exit status."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from customers.models import Customer, ImportJob

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def english(settings):
    """Assertions read the English source strings, whatever catalogue pt-BR gets later."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def test_command_imports_prints_progress_summary_and_errors_and_writes_the_error_csv(agent, manager, tmp_path):
    out, err = StringIO(), StringIO()
    errors_csv = tmp_path / "erros.csv"

    call_command(
        "import_csv",
        "customers",
        str(FIXTURES / "customers_mixed.csv"),
        "--errors-csv",
        str(errors_csv),
        "--owner",
        "gerente",
        stdout=out,
        stderr=err,
    )

    output = out.getvalue()
    assert "created 2, updated 0, unchanged 0, errors 8" in output
    assert "line 3, column document: invalid CPF" in output
    assert "9/9 100%" in err.getvalue() and "rows/s" in err.getvalue()
    assert Customer.objects.get(external_id="M-009").owner == manager  # --owner for rows without owner
    assert Customer.objects.get(external_id="M-001").owner == agent
    report = errors_csv.read_text(encoding="utf-8-sig").splitlines()
    assert report[0] == "line;column;reason"
    assert report[1] == "3;document;invalid CPF"
    assert len(report) == 9
    assert ImportJob.objects.get().status == "done"


def test_command_fails_with_non_zero_exit_when_the_file_cannot_be_read(tmp_path):
    binary = tmp_path / "planilha.csv"
    binary.write_bytes(b"PK\x03\x04 not really a csv")

    with pytest.raises(CommandError, match="spreadsheet"):
        call_command("import_csv", "customers", str(binary), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="File not found"):
        call_command("import_csv", "customers", str(tmp_path / "missing.csv"), stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="Unknown owner"):
        call_command(
            "import_csv",
            "customers",
            str(FIXTURES / "customers_good.csv"),
            "--owner",
            "nobody",
            stdout=StringIO(),
            stderr=StringIO(),
        )
