"""Signed, login-free links for customers: one-click unsubscribe and the preference centre.

The token is the customer id signed with SECRET_KEY and a salt of its own (django.core.signing),
so it cannot be forged or pointed at another customer, and it does not expire: an unsubscribe link
in an old e-mail must keep working.
"""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .conf import setting

SALT = "posvenda.messaging.preferences"


def customer_token(customer_id: int) -> str:
    return signing.dumps(customer_id, salt=SALT)


def customer_id_from_token(token: str) -> int:
    """The customer id in ``token``; raises signing.BadSignature when it was tampered with."""
    value = signing.loads(token, salt=SALT)
    if not isinstance(value, int):
        raise signing.BadSignature("unexpected token payload")
    return value


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def unsubscribe_url(customer_id: int) -> str:
    return absolute_url(reverse("messaging:unsubscribe", args=[customer_token(customer_id)]))


def preferences_url(customer_id: int) -> str:
    return absolute_url(reverse("messaging:preferences", args=[customer_token(customer_id)]))


def unsubscribe_mailto() -> str:
    """The mailto half of List-Unsubscribe (MESSAGING_UNSUBSCRIBE_MAILTO, else the From address)."""
    address = setting("MESSAGING_UNSUBSCRIBE_MAILTO", "") or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return f"mailto:{address}?subject=unsubscribe"
