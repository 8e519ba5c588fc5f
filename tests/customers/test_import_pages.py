"""Import pages: upload (managers/admins only), live progress partial, error report, real worker."""

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from customers import importer
from customers.models import Customer, ImportJob
from posvenda import roles
from posvenda.celery import app as celery_app
from tests.factories import UserFactory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def english(settings):
    """Assertions read the English source strings, whatever catalogue pt-BR gets later."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def upload(name="customers_good.csv"):
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes(), content_type="text/csv")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_managers_and_admins_see_the_upload_page_agents_get_403(client, agent, manager, admin_user):
    client.force_login(agent)
    assert client.get(reverse("customers:import")).status_code == 403
    for user in (manager, admin_user):
        client.force_login(user)
        response = client.get(reverse("customers:import"))
        assert response.status_code == 200
        assert "Import from CSV" in response.content.decode() and 'name="file"' in response.content.decode()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(reverse("customers:import"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.django_db
def test_agent_cannot_post_an_upload_nor_see_a_job(client, agent, media):
    client.force_login(agent)
    job = ImportJob.objects.create(kind="customers")
    assert client.post(reverse("customers:import"), {"kind": "customers", "file": upload()}).status_code == 403
    assert client.get(reverse("customers:import_detail", args=[job.pk])).status_code == 403
    assert client.get(reverse("customers:import_progress", args=[job.pk])).status_code == 403
    assert client.get(reverse("customers:import_errors_csv", args=[job.pk])).status_code == 403
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db
def test_manager_upload_creates_the_job_enqueues_it_after_commit_and_redirects(
    client, manager, media, django_capture_on_commit_callbacks
):
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("customers:import"), {"kind": "customers", "file": upload()})

    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("customers:import_detail", args=[job.pk])
    assert (job.status, job.kind, job.original_name, job.created_by) == (
        "pending",
        "customers",
        "customers_good.csv",
        manager,
    )
    assert (media / job.file.name).exists()
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_uploading_a_file_that_is_not_a_csv_shows_what_to_fix(client, manager, media):
    client.force_login(manager)
    bad = SimpleUploadedFile("planilha.xlsx", b"PK\x03\x04\x14\x00binary", content_type="application/octet-stream")

    response = client.post(reverse("customers:import"), {"kind": "customers", "file": bad})

    assert response.status_code == 200
    assert "This is a spreadsheet (Excel) file, not a CSV: save it as CSV" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_progress_partial_shows_percent_and_polls_until_the_job_is_finished(client, manager):
    client.force_login(manager)
    job = ImportJob.objects.create(kind="customers", status="running", total_rows=200, processed_rows=50)
    url = reverse("customers:import_progress", args=[job.pk])

    running = client.get(url).content.decode()
    assert "25%" in running and 'hx-trigger="every 1s"' in running

    ImportJob.objects.filter(pk=job.pk).update(
        status="done",
        processed_rows=200,
        created_count=199,
        error_count=1,
        errors=[{"line": 7, "column": "document", "reason": "invalid CPF"}],
    )
    done = client.get(url).content.decode()
    assert "100%" in done and "hx-trigger" not in done
    assert "invalid CPF" in done and reverse("customers:import_errors_csv", args=[job.pk]) in done


@pytest.mark.django_db
def test_error_report_downloads_as_csv(client, manager):
    client.force_login(manager)
    job = ImportJob.objects.create(
        kind="customers", status="done", errors=[{"line": 7, "column": "document", "reason": "invalid CPF"}]
    )

    response = client.get(reverse("customers:import_errors_csv", args=[job.pk]))

    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode("utf-8-sig").splitlines()[1] == "7;document;invalid CPF"


@pytest.mark.django_db
def test_job_page_shows_counts_detected_format_and_the_error_table(client, manager, agent, media):
    job = importer.import_job_create(actor=manager, kind="customers", upload=upload("customers_mixed.csv"))
    importer.import_file(job=importer.import_job_claim(job_id=job.pk))
    client.force_login(manager)

    page = client.get(reverse("customers:import_detail", args=[job.pk])).content.decode()

    assert "UTF-8" in page and "comma (,)" in page
    assert "invalid CPF" in page and "duplicate of line 2 (M-001)" in page
    assert 'hx-trigger="every 1s"' not in page


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 6])
def test_recent_imports_list_costs_the_same_queries_for_one_or_many(client, manager, django_assert_num_queries, count):
    for n in range(count):
        ImportJob.objects.create(
            kind="customers", original_name=f"f{n}.csv", created_by=UserFactory(role=roles.MANAGER)
        )
    client.force_login(manager)
    client.get(reverse("customers:import"))  # warm the session

    with django_assert_num_queries(4):  # session, user, user's groups, recent jobs with their users
        response = client.get(reverse("customers:import"))

    assert response.content.decode().count("f0.csv") == 1


@pytest.mark.django_db(transaction=True)
def test_upload_runs_on_the_real_celery_worker_until_done(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    manager = UserFactory(username="gerente", role=roles.MANAGER)
    UserFactory(username="agente", role=roles.AGENT)
    client.force_login(manager)
    import customers.tasks  # noqa: F401  (registers the task on the app)

    with start_worker(celery_app, perform_ping_check=False, pool="solo"):
        response = client.post(reverse("customers:import"), {"kind": "customers", "file": upload()})
        assert response.status_code == 302
        job = ImportJob.objects.get()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in ("done", "failed"):
                break
            time.sleep(0.2)

    assert (job.status, job.created_count, job.error_count) == ("done", 3, 0), job.message
    assert Customer.objects.count() == 3
