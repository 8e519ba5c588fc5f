"""Public survey answer pages: no login, reached from the signed link in the survey e-mail.

Thin: the token and every rule live in services (invitation_from_token, response_submit).
A GET never records anything (link scanners prefetch e-mail links); the answer is saved on the
POST of the form, which is CSRF-protected, then the customer is redirected to the thanks page.
Every response is in the invitation's language, not indexed and not cached.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_GET, require_http_methods

from posvenda.public import private, render_public

from . import services
from .models import Invitation, Response

BAD_LINK_STATUS = {"invalid": 404, "expired": 410}


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render_public(request, f"surveys/public/{template}", context, status)


def _bad_link(request: HttpRequest, reason: str) -> HttpResponse:
    """Friendly page for a tampered, unknown or expired link, in the visitor's language; it names no
    customer or survey."""
    return _render(request, "bad_link.html", {"expired": reason == "expired"}, status=BAD_LINK_STATUS.get(reason, 404))


def _saved_response(invitation: Invitation) -> Response | None:
    if invitation.status != Invitation.Status.ANSWERED:
        return None  # no response can exist yet: spare the query
    return (
        Response.objects.filter(invitation_id=invitation.pk)
        .only("id", "score", "reason", "comment", "answered_at", "invitation_id")
        .first()
    )


def _score_param(value: str | None, scores: list[int]) -> int | None:
    """The ?score=N of the e-mail link when it is on the scale; anything else preselects nothing."""
    try:
        score = int(value) if value is not None else None
    except ValueError:
        return None
    return score if score in scores else None


@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except services.BadLink as exc:
        return _bad_link(request, exc.reason)
    with translation.override(invitation.language):
        texts = services.survey_texts(survey=invitation.survey, language=invitation.language)
        saved: Response | None = None
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            chosen = {
                "score": _score_param(request.POST.get("score"), texts["scores"]),
                "reason": request.POST.get("reason", ""),
                "comment": request.POST.get("comment", ""),
            }
            try:
                services.response_submit(
                    invitation=invitation,
                    score=request.POST.get("score"),
                    reason=request.POST.get("reason"),
                    comment=request.POST.get("comment", ""),
                    defer_follow_up=True,  # the request only records the answer; a worker closes the loop
                )
            except services.BadLink as exc:
                return _bad_link(request, exc.reason)
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                return private(redirect(reverse("surveys:thanks", args=[token])))
        else:
            saved = _saved_response(invitation)
            chosen = {
                "score": saved.score if saved else None,
                "reason": saved.reason if saved else "",
                "comment": saved.comment if saved else "",
            }
            clicked = _score_param(request.GET.get("score"), texts["scores"])
            if clicked is not None:
                chosen["score"] = clicked
        return _render(
            request,
            "answer.html",
            {
                "token": token,
                "kind": invitation.survey.kind,
                "texts": texts,
                "chosen": chosen,
                "saved": saved,
                "answered": invitation.status == Invitation.Status.ANSWERED,
                "errors": errors,
                "expires_at": invitation.expires_at,
            },
        )


@require_GET
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_from_token(token)
    except services.BadLink as exc:
        return _bad_link(request, exc.reason)
    saved = _saved_response(invitation)
    if saved is None:
        return private(redirect(reverse("surveys:answer", args=[token])))
    with translation.override(invitation.language):
        texts = services.survey_texts(survey=invitation.survey, language=invitation.language)
        return _render(
            request,
            "thanks.html",
            {
                "token": token,
                "kind": invitation.survey.kind,
                "texts": texts,
                "saved": saved,
                "expires_at": invitation.expires_at,
            },
        )


def csrf_failed(request: HttpRequest) -> HttpResponse:
    """The answer form was refused by the CSRF check (cookies blocked, or the page sat open for very
    long): a friendly page that sends the customer back to the same link, nothing recorded."""
    return _render(request, "csrf_failed.html", {"retry_url": request.path}, status=403)
