"""Signed, login-free links of the loyalty programme: the customer's own loyalty page.

The token carries the customer id and the account's referral code, signed with SECRET_KEY under a
salt of its own (django.core.signing), without a timestamp so the link is stable. A tampered token fails the signature; a token naming a
customer whose account has another referral code is refused as well. It does not expire: the link
sits in old e-mails and must keep working. The referral link (``/loyalty/r/<code>/``) is public on
purpose: it is meant to be shared, and it shows no more than the referrer's first name.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse

from messaging.links import absolute_url

SALT = "posvenda.loyalty.account"


def account_token(customer_id: int, referral_code: str) -> str:
    # No timestamp (Signer, not dumps): the same customer always gets the same link.
    return signing.Signer(salt=SALT).sign_object([customer_id, referral_code])


def token_payload(token: str) -> tuple[int, str]:
    """(customer id, referral code) in ``token``; raises signing.BadSignature when tampered with."""
    value = signing.Signer(salt=SALT).unsign_object(token)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        raise signing.BadSignature("unexpected token payload")
    return value[0], value[1]


def account_path(customer_id: int, referral_code: str) -> str:
    return reverse("loyalty:account", args=[account_token(customer_id, referral_code)])


def account_url(customer_id: int, referral_code: str) -> str:
    return absolute_url(account_path(customer_id, referral_code))


def referral_url(referral_code: str) -> str:
    return absolute_url(reverse("loyalty:referral", args=[referral_code]))
