# Pages of the health score (metrics/health_views.py); included by metrics/urls.py under /metrics/health/.
urlpatterns: list = []
