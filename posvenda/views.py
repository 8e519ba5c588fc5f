from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from . import services


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("customers:list")


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    """Each user creates, rotates and revokes their own API token."""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.api_token_revoke(user=request.user)
        else:
            services.api_token_rotate(user=request.user)
        return redirect("api_token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "accounts/api_token.html", {"token": token})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: survey respondents and loyalty customers get their public pages' friendly
    version; everything else Django's default 403 page."""
    from django.urls import reverse
    from django.views.csrf import csrf_failure as django_csrf_failure

    answer_prefix = reverse("surveys:answer", args=["x"]).rsplit("x/", 1)[0]
    if request.path.startswith(answer_prefix):
        from surveys.public_views import csrf_failed

        return csrf_failed(request)
    loyalty_prefixes = (reverse("loyalty:account", args=["x"])[:-2], reverse("loyalty:referral", args=["x"])[:-2])
    if request.path.startswith(loyalty_prefixes):
        from loyalty.public_views import csrf_failed as loyalty_csrf_failed

        return loyalty_csrf_failed(request)
    return django_csrf_failure(request, reason=reason)
