"""Public survey answer pages (no login). Built by the public-page work; placeholders until then."""

from django.http import HttpRequest, HttpResponse


def answer(request: HttpRequest, token: str) -> HttpResponse:  # pragma: no cover - replaced
    raise NotImplementedError


def thanks(request: HttpRequest, token: str) -> HttpResponse:  # pragma: no cover - replaced
    raise NotImplementedError
