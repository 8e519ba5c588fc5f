"""Shared by the login-free pages customers reach from personal links (survey answers, the loyalty
page, the referral landing): rendered in the visitor's language, never indexed, never cached."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from messaging.conf import setting


def html_lang(language: str) -> str:
    """BCP 47 tag for the lang attribute: "pt-br" → "pt-BR"."""
    return translation.to_locale(language).replace("_", "-")


def private(response: HttpResponse) -> HttpResponse:
    # A personal link: keep it out of search engines and out of shared or browser caches.
    response["X-Robots-Tag"] = "noindex"
    response["Cache-Control"] = "no-store"
    return response


def render_public(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    language = translation.get_language()
    response = render(
        request,
        template,
        {**context, "html_lang": html_lang(language), "company": setting("MESSAGING_COMPANY_NAME", "Posvenda")},
        status=status,
    )
    response["Content-Language"] = language
    return private(response)
