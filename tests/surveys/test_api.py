"""Surveys over the REST API: surveys (managers write), invitations by ids and external ids,
idempotent replays, per-customer permission, responses with filters, closing the loop, query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.models import Message
from posvenda import services as account_services
from surveys import services
from surveys.api.views import INLINE_SEND_MAX
from surveys.models import Invitation, Kind, Response, Survey
from tests.factories import CustomerFactory, UserFactory
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.django_db

SURVEYS = "/api/v1/surveys/"
INVITATIONS = "/api/v1/survey-invitations/"
RESPONSES = "/api/v1/survey-responses/"


def token_client(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    token = account_services.api_token_rotate(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def invite_url(survey: Survey) -> str:
    return f"{SURVEYS}{survey.pk}/invitations/"


def answer(survey: Survey, score: int, **customer_fields) -> Response:
    invitation = sent_invitation(survey, consenting_customer(**customer_fields))
    return services.response_submit(invitation=invitation, score=score, comment=f"nota {score}")


# --- surveys -----------------------------------------------------------------------------------


def test_agent_lists_and_reads_surveys_with_their_counts(agent, nps_survey):
    answer(nps_survey, 9)
    sent_invitation(nps_survey)
    client = token_client(agent)

    listed = client.get(SURVEYS).json()["results"]
    detail = client.get(f"{SURVEYS}{nps_survey.pk}/").json()

    assert [row["id"] for row in listed] == [nps_survey.pk]
    assert (detail["kind"], detail["sent_count"], detail["answered_count"]) == ("nps", 2, 1)
    assert "nonce" not in str(detail)


def test_manager_creates_a_survey(manager):
    response = token_client(manager).post(
        SURVEYS,
        {"name": "CSAT pós-entrega", "kind": "csat", "trigger": "after_order", "trigger_days": 5},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["kind"], body["trigger_days"]) == ("CSAT pós-entrega", "csat", 5)
    assert body["created_by"]["id"] == manager.pk
    assert Survey.objects.get(pk=body["id"]).created_by == manager


def test_agent_cannot_create_or_change_a_survey(agent, nps_survey):
    client = token_client(agent)

    created = client.post(SURVEYS, {"name": "Minha pesquisa"}, format="json")
    invalid = client.post(SURVEYS, {"kind": "alien"}, format="json")
    changed = client.patch(f"{SURVEYS}{nps_survey.pk}/", {"name": "Renomeada"}, format="json")

    assert (created.status_code, invalid.status_code, changed.status_code) == (403, 403, 403)
    assert created.json()["detail"] == "Only a CS manager can create or change surveys."
    assert not Survey.objects.filter(name="Minha pesquisa").exists()
    nps_survey.refresh_from_db()
    assert nps_survey.name != "Renomeada"


def test_invalid_survey_body_is_400_with_field_messages_and_saves_nothing(manager):
    client = token_client(manager)

    shape = client.post(SURVEYS, {"name": "", "kind": "alien", "link_valid_days": 0}, format="json")
    rule = client.post(SURVEYS, {"name": "Saída", "kind": "nps", "trigger": "on_churn"}, format="json")

    assert shape.status_code == 400
    assert set(shape.json()["errors"]) == {"name", "kind", "link_valid_days"}
    assert rule.status_code == 400
    assert rule.json()["detail"] == "Invalid input."
    assert list(rule.json()["errors"]) == ["trigger"]
    assert rule.json()["errors"]["trigger"][0].startswith("Only an exit survey can be sent on churn")
    assert not Survey.objects.exists()


def test_manager_changes_a_survey_but_not_the_type_once_answered(manager, nps_survey):
    answer(nps_survey, 10)
    client = token_client(manager)
    url = f"{SURVEYS}{nps_survey.pk}/"

    renamed = client.patch(url, {"name": "NPS anual", "fatigue_days": 180}, format="json")
    retyped = client.patch(url, {"kind": "csat"}, format="json")

    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["fatigue_days"]) == ("NPS anual", 180)
    assert retyped.status_code == 400
    assert "kind" in retyped.json()["errors"]
    nps_survey.refresh_from_db()
    assert nps_survey.kind == Kind.NPS


def test_results_on_hand_built_answers(agent, nps_survey):
    # given 5 promoters, 3 passives, 2 detractors and 2 customers who did not answer
    for score in (10, 9, 9, 10, 9, 7, 8, 8, 0, 6):
        answer(nps_survey, score)
    sent_invitation(nps_survey)
    sent_invitation(nps_survey)

    body = token_client(agent).get(f"{SURVEYS}{nps_survey.pk}/results/").json()

    assert (body["invited"], body["answered"], body["response_rate"]) == (12, 10, "83.3")
    assert body["counts"] == {"promoter": 5, "passive": 3, "detractor": 2}
    assert body["score"] == "30.0"
    assert body["shares"]["promoter"] == "50.0"
    assert {row["score"]: row["answers"] for row in body["distribution"]} == {
        0: 1, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1, 8: 2, 9: 3, 10: 2,
    }  # fmt: skip
    assert body["trend"] == [{"month": timezone.localtime().strftime("%Y-%m"), "answered": 10, "score": "30.0"}]
    assert (body["loops_open"], body["loops_closed"]) == (2, 0)


def test_results_period_and_bad_dates(agent, nps_survey):
    answer(nps_survey, 10)
    client = token_client(agent)
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()

    later = client.get(f"{SURVEYS}{nps_survey.pk}/results/", {"start": tomorrow}).json()
    bad = client.get(f"{SURVEYS}{nps_survey.pk}/results/", {"start": "yesterday"})

    assert (later["answered"], later["score"]) == (0, None)
    assert bad.status_code == 400
    assert "start" in bad.json()["errors"]


# --- invitations -------------------------------------------------------------------------------


def test_invite_by_ids_and_external_ids_reports_unknown_ones(manager, nps_survey):
    by_id = consenting_customer(name="Por id")
    by_external = consenting_customer(name="Por id externo", external_id="shop-1002")

    response = token_client(manager).post(
        invite_url(nps_survey),
        {"customer_ids": [by_id.pk, 999999], "external_ids": ["shop-1002", "shop-nope"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["existing"], body["errors"]) == (2, 0, 2)
    rows = body["results"]
    assert [(r["customer"], r["external_id"], r["status"], r["error"]) for r in rows] == [
        (by_id.pk, by_id.external_id, "sent", None),
        (999999, None, None, "not_found"),
        (by_external.pk, "shop-1002", "sent", None),
        (None, "shop-nope", None, "not_found"),
    ]
    assert rows[3]["message"] == "No customer has this external ID."
    invitations = Invitation.objects.filter(survey=nps_survey)
    assert {i.customer_id for i in invitations} == {by_id.pk, by_external.pk}
    assert {i.source for i in invitations} == {Invitation.Source.API}
    assert {r["invitation"] for r in rows if r["invitation"]} == {i.pk for i in invitations}
    assert Message.objects.filter(purpose="surveys").count() == 2


def test_replay_with_the_same_source_key_creates_nothing(manager, nps_survey):
    customers = [consenting_customer() for _ in range(3)]
    body = {"customer_ids": [c.pk for c in customers], "source_key": "lote-42"}
    client = token_client(manager)

    first = client.post(invite_url(nps_survey), body, format="json").json()
    replay = client.post(invite_url(nps_survey), body, format="json").json()

    assert (first["created"], first["existing"]) == (3, 0)
    assert (replay["created"], replay["existing"]) == (0, 3)
    assert [r["invitation"] for r in replay["results"]] == [r["invitation"] for r in first["results"]]
    assert Invitation.objects.count() == 3
    assert Message.objects.count() == 3
    assert set(Invitation.objects.values_list("source_key", flat=True)) == {"api:lote-42"}


def test_another_source_key_invites_again_and_the_fatigue_rule_skips_it(manager, nps_survey, customer):
    client = token_client(manager)
    client.post(invite_url(nps_survey), {"customer_ids": [customer.pk], "source_key": "a"}, format="json")

    second = client.post(invite_url(nps_survey), {"customer_ids": [customer.pk], "source_key": "b"}, format="json")

    row = second.json()["results"][0]
    assert (row["created"], row["status"], row["skip_reason"]) == (True, "skipped", "fatigue")
    assert Message.objects.filter(customer=customer).count() == 1


def test_a_client_key_cannot_stand_in_for_an_internal_trigger_key(manager, nps_survey, customer):
    token_client(manager).post(
        invite_url(nps_survey), {"customer_ids": [customer.pk], "source_key": "order:1"}, format="json"
    )

    assert Invitation.objects.get().source_key == "api:order:1"


def test_agent_invites_own_customers_and_is_refused_per_row_for_others(agent, nps_survey, customer, others_customer):
    response = token_client(agent).post(
        invite_url(nps_survey), {"customer_ids": [customer.pk, others_customer.pk]}, format="json"
    )

    assert response.status_code == 200
    own, other = response.json()["results"]
    assert (own["status"], own["error"]) == ("sent", None)
    assert own["answer_url"] is None  # agents never see the link
    assert (other["invitation"], other["error"]) == (None, "forbidden")
    assert other["message"] == "You can only send surveys to the customers you own."
    assert list(Invitation.objects.values_list("customer_id", flat=True)) == [customer.pk]


def test_send_at_schedules_the_invitation(manager, nps_survey, customer):
    send_at = timezone.now() + timedelta(days=2)

    response = token_client(manager).post(
        invite_url(nps_survey), {"customer_ids": [customer.pk], "send_at": send_at.isoformat()}, format="json"
    )

    row = response.json()["results"][0]
    assert (row["status"], row["answer_url"]) == ("scheduled", None)
    invitation = Invitation.objects.get()
    assert invitation.due_at == send_at
    assert not Message.objects.exists()


def test_a_large_batch_is_created_at_once_and_sent_by_the_workers(
    manager, nps_survey, django_capture_on_commit_callbacks
):
    # given more customers than are sent during the request
    customers = [consenting_customer() for _ in range(INLINE_SEND_MAX + 1)]
    client = token_client(manager)

    # when
    with django_capture_on_commit_callbacks() as kicked:
        response = client.post(
            invite_url(nps_survey), {"customer_ids": [c.pk for c in customers], "source_key": "grande"}, format="json"
        )

    # then the invitations exist, due now, and a worker is kicked to send them
    assert response.status_code == 200
    assert {row["status"] for row in response.json()["results"]} == {"scheduled"}
    assert not Message.objects.exists()
    assert len(kicked) == 1
    assert services.invitations_send_due() == INLINE_SEND_MAX + 1
    listed = client.get(INVITATIONS, {"source_key": "grande", "status": "sent", "page_size": 200}).json()
    assert len(listed["results"]) == INLINE_SEND_MAX + 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "customer_ids"),
        ({"customer_ids": [], "external_ids": []}, "customer_ids"),
        ({"customer_ids": ["abc"]}, "customer_ids"),
        ({"customer_ids": list(range(1, 1002))}, "non_field_errors"),
        ({"external_ids": ["x"], "send_at": "tomorrow"}, "send_at"),
        ({"external_ids": ["x"], "source_key": "k" * 65}, "source_key"),
    ],
    ids=["empty", "empty-lists", "not-ids", "too-many", "bad-date", "long-key"],
)
def test_invalid_invitation_body_is_400_and_invites_nobody(manager, nps_survey, customer, body, field):
    response = token_client(manager).post(invite_url(nps_survey), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Invitation.objects.exists()


def test_inactive_survey_invites_nobody(manager, customer):
    survey = make_survey(is_active=False)

    response = token_client(manager).post(invite_url(survey), {"customer_ids": [customer.pk]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["This survey is inactive; activate it before sending."]}
    assert not Invitation.objects.exists()


def test_answer_link_is_shown_to_managers_only_and_the_nonce_never(agent, manager, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)

    for_manager = token_client(manager).get(INVITATIONS)
    for_agent = token_client(agent).get(INVITATIONS)

    url = for_manager.json()["results"][0]["answer_url"]
    token = url.split("/r/")[1].split("/")[0]
    assert services.invitation_from_token(token).pk == invitation.pk
    assert for_agent.json()["results"][0]["answer_url"] is None
    for response in (for_manager, for_agent):
        assert invitation.nonce not in response.content.decode()


def test_invitation_filters(agent, nps_survey):
    csat = make_survey(Kind.CSAT)
    first = sent_invitation(nps_survey, consenting_customer(external_id="erp-1"))
    second = sent_invitation(csat)
    scheduled, _ = services.invitation_create(
        survey=csat,
        customer=consenting_customer(),
        source=Invitation.Source.API,
        due_at=timezone.now() + timedelta(days=1),
    )
    client = token_client(agent)

    def ids(query: dict) -> set[int]:
        response = client.get(INVITATIONS, query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids({"survey": nps_survey.pk}) == {first.pk}
    assert ids({"customer": second.customer_id}) == {second.pk}
    assert ids({"customer_external_id": "erp-1"}) == {first.pk}
    assert ids({"status": "scheduled"}) == {scheduled.pk}
    assert ids({"source": "api"}) == {scheduled.pk}
    assert ids({"source_key": scheduled.source_key}) == {scheduled.pk}
    assert ids({"survey": csat.pk, "status": "sent"}) == {second.pk}
    assert client.get(INVITATIONS, {"status": "lost"}).status_code == 400


# --- responses ---------------------------------------------------------------------------------


def test_response_filters(agent, nps_survey):
    csat = make_survey(Kind.CSAT)
    promoter = answer(nps_survey, 10, external_id="erp-10")
    detractor = answer(nps_survey, 3)
    satisfied = answer(csat, 5)
    Response.objects.filter(pk=promoter.pk).update(answered_at=timezone.now() - timedelta(days=40))
    services.response_close_loop(actor=None, response=detractor, note="Liguei e resolvi.")
    other_detractor = answer(nps_survey, 2)
    client = token_client(agent)
    ten_days_ago = (timezone.now() - timedelta(days=10)).isoformat()

    def ids(query: dict) -> set[int]:
        response = client.get(RESPONSES, query)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids({"survey": csat.pk}) == {satisfied.pk}
    assert ids({"kind": "nps"}) == {promoter.pk, detractor.pk, other_detractor.pk}
    assert ids({"category": "detractor"}) == {detractor.pk, other_detractor.pk}
    assert ids({"customer": satisfied.customer_id}) == {satisfied.pk}
    assert ids({"customer_external_id": "erp-10"}) == {promoter.pk}
    assert ids({"answered_before": ten_days_ago}) == {promoter.pk}
    assert ids({"answered_after": ten_days_ago, "kind": "nps"}) == {detractor.pk, other_detractor.pk}
    assert ids({"loop": "open"}) == {other_detractor.pk}
    assert ids({"loop": "closed"}) == {detractor.pk}
    assert ids({"loop": "none"}) == {promoter.pk, satisfied.pk}
    assert ids({"search": "nota 5"}) == {satisfied.pk}
    assert set(client.get(RESPONSES, {"category": "angry", "answered_after": "x"}).json()["errors"]) == {
        "category",
        "answered_after",
    }


def test_response_shows_the_answer_and_customer(agent, nps_survey, customer):
    response = services.response_submit(invitation=sent_invitation(nps_survey, customer), score=4, comment="Atrasou.")

    body = token_client(agent).get(f"{RESPONSES}{response.pk}/").json()

    assert body["customer"] == customer.pk
    assert body["customer_name"] == "Ana Souza"
    assert (body["score"], body["category"], body["comment"], body["loop"]) == (4, "detractor", "Atrasou.", "open")


def test_owner_closes_the_loop_another_agent_cannot(agent, other_agent, nps_survey, customer):
    response = services.response_submit(invitation=sent_invitation(nps_survey, customer), score=2)
    url = f"{RESPONSES}{response.pk}/close-loop/"

    refused = token_client(other_agent).post(url, {"note": "Não é meu cliente."}, format="json")
    refused_invalid = token_client(other_agent).post(url, {}, format="json")
    empty = token_client(agent).post(url, {"note": ""}, format="json")
    closed = token_client(agent).post(url, {"note": "Liguei, pedi desculpas e enviei um cupom."}, format="json")

    assert (refused.status_code, refused_invalid.status_code) == (403, 403)
    assert empty.status_code == 400
    assert "note" in empty.json()["errors"]
    assert closed.status_code == 200, closed.json()
    body = closed.json()
    assert (body["loop"], body["loop_note"]) == ("closed", "Liguei, pedi desculpas e enviei um cupom.")
    assert body["loop_closed_by"]["id"] == agent.pk
    response.refresh_from_db()
    assert response.loop == Response.Loop.CLOSED
    assert response.loop_task.status == "done"


def test_manager_closes_the_loop_of_any_customer(manager, nps_survey, others_customer):
    invitation = sent_invitation(nps_survey, consenting_customer(owner=others_customer.owner))
    response = services.response_submit(invitation=invitation, score=0)

    closed = token_client(manager).post(
        f"{RESPONSES}{response.pk}/close-loop/", {"note": "Resolvido pela gerência."}, format="json"
    )

    assert closed.status_code == 200
    assert closed.json()["loop"] == "closed"


def test_responses_are_read_only(manager, nps_survey):
    response = answer(nps_survey, 9)
    client = token_client(manager)

    assert client.post(RESPONSES, {}, format="json").status_code == 405
    assert client.patch(f"{RESPONSES}{response.pk}/", {"score": 0}, format="json").status_code == 405
    assert client.delete(f"{INVITATIONS}{response.invitation_id}/").status_code == 405
    assert client.delete(f"{SURVEYS}{nps_survey.pk}/").status_code == 405


@pytest.mark.parametrize("path", [SURVEYS, INVITATIONS, RESPONSES], ids=str)
def test_user_without_role_gets_403(no_role_user, path):
    assert token_client(no_role_user).get(path).status_code == 403


# --- query counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 15])
def test_survey_list_query_count_does_not_grow(django_assert_num_queries, rows, manager):
    for n in range(rows):
        survey = make_survey(name=f"Pesquisa {n}", created_by=manager)
        answer(survey, n % 11)
    client = token_client(UserFactory(role="cs_agent"))

    # token + user, the user's groups, the page of surveys with their counts
    with django_assert_num_queries(3):
        response = client.get(f"{SURVEYS}?page_size=200")

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [1, 15])
def test_invitation_list_query_count_does_not_grow(django_assert_num_queries, rows, nps_survey):
    for _ in range(rows):
        sent_invitation(nps_survey)
    client = token_client(UserFactory(role="cs_manager"))  # a manager also gets the answer links

    with django_assert_num_queries(3):
        response = client.get(f"{INVITATIONS}?page_size=200&survey={nps_survey.pk}")

    assert len(response.json()["results"]) == rows
    assert all(row["answer_url"] for row in response.json()["results"])


@pytest.mark.parametrize("rows", [1, 15])
def test_response_list_query_count_does_not_grow(django_assert_num_queries, rows, nps_survey, manager):
    owner = UserFactory(role="cs_agent")
    for n in range(rows):
        response = answer(nps_survey, n % 11, owner=owner)
        if response.loop == Response.Loop.OPEN:
            services.response_close_loop(actor=manager, response=response, note="Feito.")
    client = token_client(UserFactory(role="cs_agent"))

    with django_assert_num_queries(3):
        response = client.get(f"{RESPONSES}?page_size=200&kind=nps")

    assert len(response.json()["results"]) == rows


def test_customers_without_an_owner_cannot_be_invited_by_an_agent(agent, nps_survey):
    orphan = CustomerFactory(owner=None)

    row = token_client(agent).post(invite_url(nps_survey), {"customer_ids": [orphan.pk]}, format="json").json()

    assert row["results"][0]["error"] == "forbidden"


# --- OpenAPI -----------------------------------------------------------------------------------


def test_schema_documents_every_survey_endpoint_with_bodies_and_examples(tmp_path):
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]

    assert set(paths["/api/v1/surveys/"]) == {"get", "post"}
    assert set(paths["/api/v1/surveys/{id}/"]) == {"get", "put", "patch"}
    assert set(paths["/api/v1/survey-invitations/{id}/"]) == {"get"}
    assert set(paths["/api/v1/survey-responses/{id}/"]) == {"get"}
    for path, method in (
        ("/api/v1/surveys/", "post"),
        ("/api/v1/surveys/{id}/invitations/", "post"),
        ("/api/v1/survey-responses/{id}/close-loop/", "post"),
    ):
        operation = paths[path][method]
        assert operation["requestBody"]["content"]["application/json"]["examples"], path
        assert {"400", "401", "403"} <= set(operation["responses"]), path
    for path in ("/api/v1/surveys/{id}/results/", "/api/v1/survey-invitations/", "/api/v1/survey-responses/"):
        assert paths[path]["get"]["responses"]["200"]["content"]["application/json"]["examples"], path
    filters = {p["name"] for p in paths["/api/v1/survey-responses/"]["get"]["parameters"]}
    assert {"survey", "kind", "category", "customer", "customer_external_id", "answered_after", "loop"} <= filters
