"""/api/v1/reviews/ (metrics/api/reviews.py); included by metrics/api/urls.py under /api/v1/.
A SimpleRouter: the API root view belongs to posvenda/api/urls.py's router."""

from rest_framework.routers import SimpleRouter

from .reviews import ReviewViewSet

router = SimpleRouter()
router.register("reviews", ReviewViewSet, basename="review")

urlpatterns = router.urls
