from django.http import HttpRequest, HttpResponse

from posvenda.web import crm_role_required


@crm_role_required
def dashboard(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError  # being built in this session; replaced before the issue is closed
