# Pages of reputation reviews (metrics/review_views.py); included by metrics/urls.py under /metrics/reviews/.
urlpatterns: list = []
