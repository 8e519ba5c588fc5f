"""The one place that builds the /api/v1/ router; each app registers its viewsets here."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from customers.api import views as customer_views
from loyalty.api import views as loyalty_views
from support.api import views as support_views
from surveys.api import views as survey_views

router = DefaultRouter()
router.register("customers", customer_views.CustomerViewSet, basename="customer")
router.register("contacts", customer_views.ContactViewSet, basename="contact")
router.register("orders", customer_views.OrderViewSet, basename="order")
router.register("contracts", customer_views.ContractViewSet, basename="contract")
router.register("interactions", customer_views.InteractionViewSet, basename="interaction")
router.register("consents", customer_views.ConsentViewSet, basename="consent")
router.register("surveys", survey_views.SurveyViewSet, basename="survey")
router.register("survey-invitations", survey_views.InvitationViewSet, basename="survey-invitation")
router.register("survey-responses", survey_views.ResponseViewSet, basename="survey-response")
router.register("tickets", support_views.TicketViewSet, basename="ticket")
router.register("loyalty/accounts", loyalty_views.AccountViewSet, basename="loyalty-account")
router.register("loyalty/referrals", loyalty_views.ReferralViewSet, basename="loyalty-referral")
router.register("loyalty/rewards", loyalty_views.RewardViewSet, basename="loyalty-reward")

urlpatterns = [
    path("loyalty/liability/", loyalty_views.LiabilityView.as_view(), name="loyalty-liability"),
    path("", include("metrics.api.urls")),
    path("", include(router.urls)),
]
