"""The Django admin is the admin role's tool (users, groups, settings); CS roles are refused."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import roles


def _admin_role_only(request: HttpRequest) -> bool:
    return bool(request.user.is_active and roles.is_admin(request.user))


admin.site.has_permission = _admin_role_only
admin.site.site_header = _("Posvenda administration")
admin.site.site_title = _("Posvenda")
