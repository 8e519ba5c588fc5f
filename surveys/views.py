"""CS pages of the surveys app. Placeholders until the pages land."""

from django.http import HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:  # pragma: no cover
    raise NotImplementedError


survey_list = survey_create = survey_results = survey_edit = survey_send = _todo
responses_export = response_detail = response_close_loop = send_to_customer = _todo
