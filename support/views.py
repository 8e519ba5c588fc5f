"""CS pages of the support app. Placeholders until the pages land."""

from django.http import HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:  # pragma: no cover
    raise NotImplementedError


queue = ticket_create = ticket_detail = ticket_change = ticket_reply = _todo
reports = reports_export = sla_policies = _todo
