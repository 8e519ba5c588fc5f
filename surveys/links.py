"""Signed, login-free survey links: one per invitation.

The token carries the invitation id and its random nonce, signed with SECRET_KEY under a salt of
its own (django.core.signing). A tampered token fails the signature; a token that names an
invitation with another nonce (a forged or re-used id) is refused as well. Expiry is checked on
the invitation (``expires_at``), so it follows the survey's setting rather than a fixed max_age.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from messaging.links import absolute_url

SALT = "posvenda.surveys.invitation"


def invitation_token(invitation_id: int, nonce: str) -> str:
    return signing.dumps([invitation_id, nonce], salt=SALT)


def token_payload(token: str) -> tuple[int, str]:
    """(invitation id, nonce) in ``token``; raises signing.BadSignature when it was tampered with."""
    value = signing.loads(token, salt=SALT)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        raise signing.BadSignature("unexpected token payload")
    return value[0], value[1]


def answer_path(invitation_id: int, nonce: str, score: int | None = None) -> str:
    path = reverse("surveys:answer", args=[invitation_token(invitation_id, nonce)])
    return f"{path}?score={score}" if score is not None else path


def answer_url(invitation_id: int, nonce: str, score: int | None = None) -> str:
    return absolute_url(answer_path(invitation_id, nonce, score))
