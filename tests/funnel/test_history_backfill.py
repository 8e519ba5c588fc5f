from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers import importer
from funnel import services
from funnel import tasks as funnel_tasks
from funnel.models import StageChange, StepRun
from posvenda.celery import app as celery_app
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_backfill_records_the_current_stage_once_and_schedules_nothing():
    long_ago = timezone.now() - timedelta(days=400)
    bulk = CustomerFactory.create_batch(3, stage="retention")
    CustomerFactory._meta.model.objects.filter(pk=bulk[0].pk).update(created_at=long_ago)
    StageChange.objects.filter(customer__in=bulk).delete()  # as if loaded before the funnel existed

    assert services.stage_history_record_initial() == 3
    assert services.stage_history_record_initial() == 0

    first = StageChange.objects.get(customer=bulk[0])
    assert (first.from_stage, first.to_stage, first.source) == ("", "retention", StageChange.Source.SYSTEM)
    assert first.changed_at == long_ago
    assert not StepRun.objects.filter(customer__in=bulk).exists()


def test_the_command_reports_how_many_customers_it_started(capsys):
    customers = CustomerFactory.create_batch(2)
    StageChange.objects.filter(customer__in=customers).delete()

    call_command("funnel_backfill")
    call_command("funnel_backfill")

    out = capsys.readouterr().out
    assert "stage history started for 2 customers" in out
    assert "stage history started for 0 customers" in out


def test_customers_created_by_an_import_enter_the_funnel_history(tmp_path: Path, django_capture_on_commit_callbacks):
    csv = tmp_path / "clientes.csv"
    csv.write_text("external_id,nome,email\nIMP-1,Ana Souza,ana@example.com\nIMP-2,Bruno Lima,bruno@example.com\n")

    celery_app.conf.task_always_eager = True  # the handler hands the ids to a worker task
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = importer.import_path(csv, kind="customers", actor=None)
    finally:
        celery_app.conf.task_always_eager = False

    assert job.created_count == 2
    history = StageChange.objects.filter(customer__external_id__in=["IMP-1", "IMP-2"])
    assert sorted(history.values_list("to_stage", flat=True)) == ["adoption", "adoption"]
    assert not StepRun.objects.filter(customer__external_id__in=["IMP-1", "IMP-2"]).exists()


def test_the_history_task_is_safe_to_run_twice():
    customers = CustomerFactory.create_batch(2)

    assert funnel_tasks.record_initial_history([c.pk for c in customers]) == 2
    assert funnel_tasks.record_initial_history([c.pk for c in customers]) == 0
    assert funnel_tasks.record_initial_history() == 0
    assert StageChange.objects.filter(customer__in=customers).count() == 2
