"""The CS survey pages: list, create/edit, send, results (figures, filters, CSV) and a response
with closing the loop. Pages in English (language cookie) so assertions hold once pt-BR lands."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from funnel.models import Task
from surveys import services
from surveys.models import Invitation, Kind, Response, Survey, Trigger, Wave
from tests.factories import CustomerFactory, SegmentFactory
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.django_db

LIST = reverse("surveys:list")
CREATE = reverse("surveys:create")


@pytest.fixture(autouse=True)
def english_pages(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def count_queries(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx)


def answer(survey, score=None, *, customer=None, comment="", reason=None):
    invitation = sent_invitation(survey, customer)
    return services.response_submit(invitation=invitation, score=score, comment=comment, reason=reason)


def survey_form_data(**overrides):
    data = {
        "name": "NPS trimestral",
        "kind": "nps",
        "is_active": "on",
        "ask_follow_up": "on",
        "trigger": "manual",
        "trigger_days": "7",
        "segment": "",
        "link_valid_days": "30",
        "reminder_after_days": "3",
        "fatigue_days": "90",
        "quiet_days_after_ticket": "7",
        "detractor_task": "on",
        "detractor_ticket": "on",
        "detractor_task_days": "2",
        "promoter_to_funnel": "on",
    }
    for field in ("subject", "intro", "question", "follow_up", "exit_reasons"):
        data[f"{field}_pt_br"] = data[f"{field}_en"] = ""
    data.update(overrides)
    return data


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        LIST,
        CREATE,
        reverse("surveys:results", args=[1]),
        reverse("surveys:send", args=[1]),
        reverse("surveys:responses_export", args=[1]),
        reverse("surveys:response", args=[1]),
    ],
)
def test_pages_send_anonymous_users_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_crm_role_is_refused(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(LIST).status_code == 403


def test_agent_cannot_create_or_edit_surveys(client, agent, nps_survey):
    client.force_login(agent)
    edit = reverse("surveys:edit", args=[nps_survey.pk])

    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, survey_form_data()).status_code == 403
    assert client.get(edit).status_code == 403
    assert client.post(edit, survey_form_data(name="Mudado")).status_code == 403
    nps_survey.refresh_from_db()
    assert nps_survey.name == "Pesquisa nps" and Survey.objects.count() == 1


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_counts_rate_and_score_and_new_survey_for_managers(client, manager, nps_survey):
    # given 4 answers (2 promoters, 1 passive, 1 detractor → NPS 25) of 5 sent
    for score in (10, 9, 8, 3):
        answer(nps_survey, score)
    sent_invitation(nps_survey)
    client.force_login(manager)
    # when
    response = client.get(LIST)
    # then
    row = response.context["survey_rows"][0]
    assert (row.sent_count, row.answered_count, str(row.rate), str(row.score)) == (5, 4, "80.0", "25.0")
    html = response.content.decode()
    assert "NPS 25" in html and "80.0%" in html
    assert "New survey" in html and reverse("surveys:results", args=[nps_survey.pk]) in html


def test_list_hides_new_survey_from_agents_and_filters_by_type_and_name(client, agent):
    make_survey(Kind.NPS, name="NPS anual")
    make_survey(Kind.CSAT, name="CSAT entrega")
    make_survey(Kind.CSAT, name="CSAT suporte", is_active=False)
    client.force_login(agent)

    response = client.get(LIST, {"kind": "csat", "active": "yes"})
    assert [s.name for s in response.context["survey_rows"]] == ["CSAT entrega"]
    assert "New survey" not in response.content.decode()
    response = client.get(LIST, {"q": "suporte"})
    assert [s.name for s in response.context["survey_rows"]] == ["CSAT suporte"]


def test_list_sorts_by_response_rate(client, agent):
    low, high, none = make_survey(name="Baixa"), make_survey(name="Alta"), make_survey(name="Nenhuma")
    answer(low, 9)
    sent_invitation(low)
    answer(high, 9)
    client.force_login(agent)

    ascending = client.get(LIST, {"sort": "rate"}).context["survey_rows"]
    descending = client.get(LIST, {"sort": "-rate"}).context["survey_rows"]

    assert [s.name for s in ascending] == ["Nenhuma", "Baixa", "Alta"]
    assert [s.name for s in descending] == ["Alta", "Baixa", "Nenhuma"]
    assert none.pk  # no answers: rate shown as —


def test_list_query_count_is_the_same_for_1_and_30_surveys(client, agent, django_assert_num_queries):
    answer(make_survey(segment=SegmentFactory()), 9)
    client.force_login(agent)
    expected = count_queries(client, LIST)
    for i in range(29):
        survey = make_survey(Kind.CSAT if i % 2 else Kind.CES, segment=SegmentFactory())
        answer(survey, 4)
    with django_assert_num_queries(expected):
        client.get(LIST)


# --- create / edit -------------------------------------------------------------------------------


def test_manager_creates_a_survey(client, manager):
    client.force_login(manager)
    response = client.post(CREATE, survey_form_data(question_en="Would you recommend us?"))
    survey = Survey.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("surveys:results", args=[survey.pk])
    assert (survey.name, survey.kind, survey.question_en, survey.created_by) == (
        "NPS trimestral",
        "nps",
        "Would you recommend us?",
        manager,
    )


def test_create_form_shows_built_in_wording_as_placeholder(client, manager):
    client.force_login(manager)
    html = client.get(CREATE).content.decode()
    assert 'placeholder="On a scale from 0 to 10, how likely are you to recommend' in html
    # htmx: another type re-renders the wording with its placeholders, keeping what was typed
    html = client.get(CREATE, {"kind": "csat", "name": "Minha"}, headers={"HX-Request": "true"}).content.decode()
    assert 'placeholder="How satisfied are you with' in html and 'value="Minha"' in html


def test_service_errors_show_on_their_fields(client, manager):
    client.force_login(manager)
    response = client.post(CREATE, survey_form_data(trigger=Trigger.ON_CHURN))
    assert response.status_code == 400
    [error] = response.context["form"].errors["trigger"]
    assert error.startswith("Only an exit survey can be sent on churn")
    assert "Please fix the fields marked below." in response.content.decode()
    response = client.post(CREATE, survey_form_data(intro_pt_br="Olá {desconhecida}"))
    assert "intro_pt_br" in response.context["form"].errors
    assert not Survey.objects.exists()


def test_manager_edits_a_survey_but_cannot_change_the_type_once_answered(client, manager, nps_survey):
    answer(nps_survey, 9)
    client.force_login(manager)
    edit = reverse("surveys:edit", args=[nps_survey.pk])

    response = client.post(edit, survey_form_data(kind="csat"))
    assert response.status_code == 400
    assert response.context["form"].errors["kind"] == [
        "The type of a survey with answers cannot change; create a new survey."
    ]
    response = client.post(edit, survey_form_data(name="NPS renomeada", fatigue_days="60"))
    assert response.status_code == 302
    nps_survey.refresh_from_db()
    assert (nps_survey.name, nps_survey.fatigue_days, nps_survey.kind) == ("NPS renomeada", 60, "nps")


# --- results -------------------------------------------------------------------------------------


def test_results_show_nps_30_with_counts_and_response_rate(client, agent, nps_survey):
    # given 5 promoters, 3 passives, 2 detractors, and 2 invitations without answer
    for score in (10, 9, 9, 10, 9, 7, 8, 8, 0, 6):
        answer(nps_survey, score)
    sent_invitation(nps_survey)
    sent_invitation(nps_survey)
    client.force_login(agent)
    # when
    response = client.get(reverse("surveys:results", args=[nps_survey.pk]))
    # then
    html = response.content.decode()
    assert '<span class="kpi-value" id="kpi-score">30</span>' in html
    assert '<span class="kpi-value" id="kpi-rate">83.3%</span>' in html
    assert "10 answered of 12 sent" in html
    for category, n in (("promoter", 5), ("passive", 3), ("detractor", 2)):
        assert f'<strong data-category="{category}">{n}</strong>' in html
    assert "Score distribution" in html and "Trend by month" in html and "<svg" in html
    assert "<script" not in html.split("</head>")[1]
    assert response.context["results"].loops_open == 2


def test_results_filter_comments_by_category_loop_and_search(client, agent, nps_survey):
    promoter = answer(nps_survey, 10, comment="Atendimento excelente")
    detractor = answer(nps_survey, 2, comment="Entrega atrasada")
    passive = answer(nps_survey, 7, comment="Bom, mas caro")
    client.force_login(agent)
    url = reverse("surveys:results", args=[nps_survey.pk])

    def rows(**params):
        return [r.pk for r in client.get(url, params).context["response_rows"]]

    assert rows() == [passive.pk, detractor.pk, promoter.pk]
    assert rows(category="detractor") == [detractor.pk]
    assert rows(loop="open") == [detractor.pk]
    assert rows(q="excelente") == [promoter.pk]
    assert rows(category="promoter", q="atrasada") == []


def test_results_period_filter(client, agent, nps_survey):
    recent = answer(nps_survey, 9)
    old = answer(nps_survey, 3)
    Response.objects.filter(pk=old.pk).update(answered_at=timezone.now() - timedelta(days=45))
    client.force_login(agent)
    url = reverse("surveys:results", args=[nps_survey.pk])

    last_30 = client.get(url, {"period": "30"})
    assert [r.pk for r in last_30.context["response_rows"]] == [recent.pk]
    assert last_30.context["results"].score == 100
    custom = client.get(url, {"period": "custom", "end": (timezone.localdate() - timedelta(days=40)).isoformat()})
    assert [r.pk for r in custom.context["response_rows"]] == [old.pk]
    everything = client.get(url, {"period": "all"})
    assert len(everything.context["response_rows"]) == 2
    bad = client.get(url, {"period": "custom", "start": "2026-05-10", "end": "2026-05-01"})
    assert "The end date must be on or after the start date." in bad.content.decode()


def test_results_of_csat_ces_and_exit_surveys(client, agent):
    csat, ces, exit_survey = make_survey(Kind.CSAT), make_survey(Kind.CES), make_survey(Kind.EXIT)
    for score in (5, 4, 3, 1):
        answer(csat, score)
    for score in (7, 6, 2):
        answer(ces, score)
    reasons = services.survey_texts(survey=exit_survey, language="pt-br")["reasons"]
    price, other = reasons[0], reasons[-1]
    answer(exit_survey, reason=price)
    answer(exit_survey, reason=price)
    answer(exit_survey, reason=other, comment="Mudei de cidade")
    client.force_login(agent)

    html = client.get(reverse("surveys:results", args=[csat.pk])).content.decode()
    assert 'id="kpi-score">50.0%</span>' in html
    html = client.get(reverse("surveys:results", args=[ces.pk])).content.decode()
    assert 'id="kpi-score">5.00</span>' in html
    response = client.get(reverse("surveys:results", args=[exit_survey.pk]))
    assert [(r["reason"], r["count"]) for r in response.context["reasons"]] == [(price, 2), (other, 1)]
    assert [p["answered"] for p in response.context["trend"]["points"]] == [3]  # answers per month
    assert "Reasons for leaving" in response.content.decode() and "Mudei de cidade" in response.content.decode()


def test_results_query_count_is_the_same_for_1_and_30_answers(client, agent, nps_survey, django_assert_num_queries):
    answer(nps_survey, 3, comment="Ruim")
    client.force_login(agent)
    url = reverse("surveys:results", args=[nps_survey.pk])
    expected = count_queries(client, url)
    for i in range(29):
        answer(nps_survey, i % 11, comment=f"Comentário {i}")
    with django_assert_num_queries(expected):
        client.get(url)


# --- CSV export ----------------------------------------------------------------------------------


def read_csv(response):
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_export_has_exact_rows_with_the_page_filters(client, agent, nps_survey):
    ana = consenting_customer(name="Ana Souza", owner=agent)
    bruno = consenting_customer(name="Bruno Lima")
    detractor = answer(nps_survey, 4, customer=ana, comment='=HYPERLINK("http://x")')
    promoter = answer(nps_survey, 10, customer=bruno, comment="Ótimo, recomendo")
    client.force_login(agent)
    url = reverse("surveys:responses_export", args=[nps_survey.pk])

    rows = read_csv(client.get(url))
    assert rows[0] == [
        "response_id",
        "answered_at",
        "survey",
        "type",
        "customer_id",
        "customer",
        "owner",
        "score",
        "category",
        "reason",
        "comment",
        "times_answered",
        "follow_up",
        "follow_up_note",
        "loop_closed_at",
    ]

    def iso(value):
        return timezone.localtime(value).isoformat(timespec="seconds")

    assert rows[1:] == [
        [str(promoter.pk), iso(promoter.answered_at), "Pesquisa nps", "nps", str(bruno.pk), "Bruno Lima", "", "10",
         "promoter", "", "Ótimo, recomendo", "1", "", "", ""],
        [str(detractor.pk), iso(detractor.answered_at), "Pesquisa nps", "nps", str(ana.pk), "Ana Souza", "agente",
         "4", "detractor", "", "'=HYPERLINK(\"http://x\")", "1", "open", "", ""],
    ]  # fmt: skip
    filtered = read_csv(client.get(url, {"category": "promoter"}))
    assert [row[0] for row in filtered[1:]] == [str(promoter.pk)]


# --- a response and closing the loop ------------------------------------------------------------


def test_owner_closes_the_loop_of_a_detractor(client, agent, nps_survey, customer):
    # given a detractor answer: a follow-up task for the owner
    response = answer(nps_survey, 3, customer=customer, comment="Produto veio quebrado")
    assert response.loop == Response.Loop.OPEN
    client.force_login(agent)
    url = reverse("surveys:response", args=[response.pk])
    html = client.get(url).content.decode()
    assert "Follow-up open" in html and "Produto veio quebrado" in html and "Record follow-up" in html
    assert response.loop_task.title in html
    assert reverse("customers:detail", args=[customer.pk]) in html
    # an empty note is refused with a message
    empty = client.post(reverse("surveys:close_loop", args=[response.pk]), {"note": " "})
    assert empty.status_code == 400 and "Say what you did to follow up." in empty.content.decode()
    # when
    done = client.post(reverse("surveys:close_loop", args=[response.pk]), {"note": "Liguei e troquei o produto."})
    # then
    assert done.status_code == 302 and done["Location"] == url
    page = client.get(url)
    html = page.content.decode()
    assert "Loop closed" in html and "Liguei e troquei o produto." in html and "Record follow-up" not in html
    assert f"by {agent.get_full_name() or agent.username} on" in html
    response.refresh_from_db()
    assert response.loop == Response.Loop.CLOSED and response.loop_closed_by == agent
    assert Task.objects.get(pk=response.loop_task_id).status == Task.Status.DONE


def test_agent_cannot_close_the_loop_of_another_agents_customer(client, other_agent, nps_survey, customer):
    response = answer(nps_survey, 2, customer=customer)
    client.force_login(other_agent)

    html = client.get(reverse("surveys:response", args=[response.pk])).content.decode()
    assert "Record follow-up" not in html
    assert "Only the customer's owner or a CS manager can record the follow-up." in html
    post = client.post(reverse("surveys:close_loop", args=[response.pk]), {"note": "Tentei"})
    assert post.status_code == 403
    response.refresh_from_db()
    assert response.loop == Response.Loop.OPEN


def test_manager_may_close_any_loop(client, manager, nps_survey, customer):
    response = answer(nps_survey, 1, customer=customer)
    client.force_login(manager)
    client.post(reverse("surveys:close_loop", args=[response.pk]), {"note": "Reembolso feito"})
    response.refresh_from_db()
    assert (response.loop, response.loop_closed_by) == (Response.Loop.CLOSED, manager)


def test_response_shows_the_invitation_timeline_and_times_answered(client, agent, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    services.response_submit(invitation=invitation, score=8)
    response = services.response_submit(invitation=invitation, score=9, comment="Mudei de ideia")
    client.force_login(agent)
    html = client.get(reverse("surveys:response", args=[response.pk])).content.decode()
    assert "E-mail sent" in html and "Last answered" in html
    assert '<dd id="times-answered">2</dd>' in html
    assert "No follow-up needed for this answer." in html


# --- sending ---------------------------------------------------------------------------------


def test_send_to_customer_from_the_360_page_says_sent_then_fatigue(client, agent, customer):
    first, second = make_survey(name="NPS relacionamento"), make_survey(name="NPS pós-suporte")
    client.force_login(agent)
    url = reverse("surveys:send_to_customer", args=[customer.pk])

    response = client.post(url, {"survey": first.pk}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:detail", args=[customer.pk]) + "#panel-surveys"
    assert "“NPS relacionamento” sent to Ana Souza." in response.content.decode()
    invitation = Invitation.objects.get(survey=first, customer=customer)
    assert (invitation.status, invitation.created_by, invitation.source) == ("sent", agent, "manual")

    response = client.post(url, {"survey": second.pk}, follow=True)
    html = response.content.decode()
    assert "“NPS pós-suporte” was not sent to Ana Souza. Already surveyed recently (survey fatigue rule)." in html
    assert Invitation.objects.get(survey=second).skip_reason == Invitation.SkipReason.FATIGUE

    again = client.post(url, {"survey": first.pk}, follow=True)
    assert "was already sent “NPS relacionamento” today" in again.content.decode()


def test_send_to_customer_explains_a_blocked_message(client, agent):
    no_consent = CustomerFactory(owner=agent, name="Sem Consentimento", email="sem@example.com")
    survey = make_survey()
    client.force_login(agent)
    html = client.post(
        reverse("surveys:send_to_customer", args=[no_consent.pk]), {"survey": survey.pk}, follow=True
    ).content.decode()
    assert "was not sent to Sem Consentimento. Message blocked" in html


def test_agent_cannot_send_to_another_agents_customer(client, other_agent, customer, nps_survey):
    client.force_login(other_agent)
    response = client.post(reverse("surveys:send_to_customer", args=[customer.pk]), {"survey": nps_survey.pk})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_inactive_survey_cannot_be_sent_to_a_customer(client, agent, customer):
    inactive = make_survey(is_active=False)
    client.force_login(agent)
    response = client.post(
        reverse("surveys:send_to_customer", args=[customer.pk]), {"survey": inactive.pk}, follow=True
    )
    assert "Survey not sent: choose an active survey." in response.content.decode()
    assert not Invitation.objects.exists()


def test_manager_sends_a_survey_to_a_segment_and_sees_the_progress(
    client, manager, nps_survey, django_capture_on_commit_callbacks
):
    segment = SegmentFactory(name="Varejo")
    members = [consenting_customer(segment=segment) for _ in range(3)]
    CustomerFactory(segment=segment, email="")  # no e-mail: skipped
    client.force_login(manager)
    url = reverse("surveys:send", args=[nps_survey.pk])
    # when
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, {"target": "segment", "segment": segment.pk})
    # then
    wave = Wave.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{url}?sent={wave.pk}"
    assert (wave.segment, wave.created_by, wave.status) == (segment, manager, Wave.Status.PENDING)
    html = client.get(response["Location"]).content.decode()
    assert 'id="wave-progress"' in html and 'hx-trigger="every 2s"' in html
    # the worker runs the wave; the polled partial shows the counts and stops polling
    services.wave_run(wave_id=wave.pk)
    partial = client.get(url, {"wave": wave.pk}, headers={"HX-Request": "true"})
    assert partial.context["wave"].total == 4
    assert (partial.context["wave"].invited, partial.context["wave"].skipped) == (3, 1)
    assert partial.context["percent"] == 100 and "every 2s" not in partial.content.decode()
    assert Invitation.objects.filter(customer__in=members, status="sent").count() == 3


def test_send_to_chosen_customers_with_search(
    client, agent, nps_survey, customer, other_agent, django_capture_on_commit_callbacks
):
    consenting_customer(owner=other_agent, name="Ana Outra")
    client.force_login(agent)
    url = reverse("surveys:send", args=[nps_survey.pk])
    # the htmx search lists only the agent's own customers
    partial = client.get(url, {"search": "Ana"}, headers={"HX-Request": "true"})
    assert [c.name for c in partial.context["matches"]] == ["Ana Souza"]
    assert "Ana Outra" not in partial.content.decode()
    # the agent has no segment or everyone option
    page = client.get(url).content.decode()
    assert 'value="segment"' not in page and 'value="all"' not in page
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, {"target": "customers", "customers": [customer.pk]})
    assert response.status_code == 302
    assert Wave.objects.get().customer_ids == [customer.pk]


def test_agent_cannot_send_to_a_segment_all_or_other_customers(client, agent, other_agent, nps_survey):
    others = consenting_customer(owner=other_agent)
    client.force_login(agent)
    url = reverse("surveys:send", args=[nps_survey.pk])

    assert client.post(url, {"target": "all"}).status_code == 400  # not a choice for agents
    assert client.post(url, {"target": "customers", "customers": [others.pk]}).status_code == 403
    assert not Wave.objects.exists()


def test_send_form_says_what_is_missing(client, manager, nps_survey):
    client.force_login(manager)
    url = reverse("surveys:send", args=[nps_survey.pk])
    response = client.post(url, {"target": "customers"})
    assert response.status_code == 400
    assert "Search for customers and tick at least one." in response.content.decode()
    response = client.post(url, {"target": "segment"})
    assert "Choose the segment to survey." in response.content.decode()
    nps_survey.is_active = False
    nps_survey.save()
    response = client.post(url, {"target": "all"})
    assert "This survey is inactive; activate it before sending." in response.content.decode()


def test_response_page_links_the_detractor_ticket(client, manager):
    from support.models import Ticket

    survey = make_survey("nps")
    response = services.response_submit(invitation=sent_invitation(survey, consenting_customer()), score=3)
    ticket = Ticket.objects.get(survey_response=response)
    client.force_login(manager)

    html = client.get(reverse("surveys:response", args=[response.pk])).content.decode()

    assert reverse("support:detail", args=[ticket.pk]) in html and f"#{ticket.pk}" in html
