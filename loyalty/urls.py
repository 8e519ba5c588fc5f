from django.urls import path

from . import public_views, views

app_name = "loyalty"

urlpatterns = [
    # Public, login-free
    path("c/<str:token>/", public_views.account_page, name="account"),
    path("r/<str:code>/", public_views.referral_landing, name="referral"),
    path("r/<str:code>/thanks/", public_views.referral_thanks, name="referral_thanks"),
    # CS pages
    path("", views.programme_settings, name="settings"),
    path("rewards/", views.rewards, name="rewards"),
    path("liability/", views.liability, name="liability"),
    path("referrals/", views.referrals, name="referrals"),
    path("customers/<int:customer_id>/adjust/", views.adjust, name="adjust"),
]
