from django.urls import path

from . import public_views, views

app_name = "surveys"

urlpatterns = [
    # Public, login-free (signed link per invitation)
    path("r/<str:token>/", public_views.answer, name="answer"),
    path("r/<str:token>/thanks/", public_views.thanks, name="thanks"),
    # CS pages
    path("", views.survey_list, name="list"),
    path("new/", views.survey_create, name="create"),
    path("<int:pk>/", views.survey_results, name="results"),
    path("<int:pk>/edit/", views.survey_edit, name="edit"),
    path("<int:pk>/send/", views.survey_send, name="send"),
    path("<int:pk>/responses.csv", views.responses_export, name="responses_export"),
    path("responses/<int:pk>/", views.response_detail, name="response"),
    path("responses/<int:pk>/close-loop/", views.response_close_loop, name="close_loop"),
    path("customer/<int:customer_id>/send/", views.send_to_customer, name="send_to_customer"),
]
