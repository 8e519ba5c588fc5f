"""CSV import pages: upload (managers and admins), live progress, error report."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from posvenda import roles

from . import importer
from .models import ImportJob

RECENT_IMPORTS = 20
ERRORS_SHOWN = 200


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("What does the file hold?"), choices=ImportJob.Kind.choices)
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "UTF-8 or Latin-1, comma or semicolon separated, first line with the column names. "
            "Excel: File > Save as > CSV."
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload, kind = cleaned.get("file"), cleaned.get("kind")
        if upload is None or kind is None:
            return cleaned
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            self.add_error(
                "file", _("The file is too large (the limit is %(limit)s).") % {"limit": filesizeformat(limit)}
            )
            return cleaned
        # Refuse what cannot be imported at all now, while the user is still on the form.
        try:
            cleaned["sniffed"] = importer.sniff(upload.file, kind)
        except importer.ImportFileError as exc:
            self.add_error("file", str(exc))
        finally:
            upload.file.seek(0)
        return cleaned


def _import_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.can_import(request.user):
            raise PermissionDenied(_("Only CS managers and admins can import files."))
        return view(request, *args, **kwargs)

    return wrapper


@_import_access
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = importer.import_job_create(
            actor=request.user, kind=form.cleaned_data["kind"], upload=upload, original_name=upload.name
        )
        from .tasks import import_run

        transaction.on_commit(lambda: import_run.delay(job.pk))
        return redirect("customers:import_detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by")[:RECENT_IMPORTS]
    return render(request, "customers/import.html", {"form": form, "jobs": jobs})


def _detail_context(job: ImportJob) -> dict[str, Any]:
    return {
        "job": job,
        "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        "errors": (job.errors or [])[:ERRORS_SHOWN],
        "errors_hidden": max(0, len(job.errors or []) - ERRORS_SHOWN),
    }


@_import_access
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    sniffed = None
    if job.file:
        try:
            with job.file.open("rb") as fh:
                sniffed = importer.sniff(fh, job.kind)
        except (OSError, importer.ImportFileError):
            sniffed = None
    return render(request, "customers/import_detail.html", {**_detail_context(job), "sniffed": sniffed})


@_import_access
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx partial polled every second; it stops polling once the job is finished."""
    job = get_object_or_404(ImportJob, pk=pk)
    return render(request, "customers/import_progress.html", _detail_context(job))


@_import_access
@require_GET
def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    importer.write_errors_csv(job, response)
    return response
