from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/api-token/", views.api_token, name="api_token"),
    path("admin/", admin.site.urls),
    path("customers/", include("customers.urls")),
    path("funnel/", include("funnel.urls")),
    path("messaging/", include("messaging.urls")),
    path("surveys/", include("surveys.urls")),
    path("support/", include("support.urls")),
    path("loyalty/", include("loyalty.urls")),
    path("metrics/", include("metrics.urls")),
    path("api/v1/", include("posvenda.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
