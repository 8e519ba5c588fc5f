"""The Django admin is the admin role's tool (users, groups, settings); CS roles are refused."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import roles


def _admin_role_only(request: HttpRequest) -> bool:
    return bool(request.user.is_active and roles.is_admin(request.user))


admin.site.has_permission = _admin_role_only
admin.site.site_header = _("Posvenda administration")
admin.site.site_title = _("Posvenda")


class ReadOnlyAdmin(admin.ModelAdmin):
    """For rows only services write (histories, ledgers, answers): the admin inspects, never edits."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
