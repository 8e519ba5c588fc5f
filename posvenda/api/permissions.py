"""API permissions: the same rules as the pages, read from posvenda.roles."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from posvenda import roles


class HasCRMRole(BasePermission):
    """Signed-in users without a CRM role (agent, manager or admin) get 403 on everything."""

    message = _("Your account has no CRM role; ask an administrator for access.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.can_view_customers(request.user)


class CanWorkCustomer(BasePermission):
    """Everyone with a role reads; writes need the right to work the record's customer.

    The services check the same rule; checking here too answers 403 before a body is validated.
    """

    message = _("You can only work on the customers you own.")

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        customer = view.customer_of(obj)  # type: ignore[attr-defined]
        return roles.can_edit_customer(request.user, customer)
