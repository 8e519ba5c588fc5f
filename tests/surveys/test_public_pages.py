"""The public survey answer page: reached from the e-mailed link, no login."""

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from funnel.models import Task
from surveys import links, services
from surveys.models import Invitation, Kind, Response
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.django_db


def answer_url(invitation: Invitation, score: int | None = None) -> str:
    return links.answer_path(invitation.pk, invitation.nonce, score)


def thanks_url(invitation: Invitation) -> str:
    return reverse("surveys:thanks", args=[links.invitation_token(invitation.pk, invitation.nonce)])


def checked_values(html: str, name: str) -> list[str]:
    return re.findall(rf'<input[^>]*name="{name}" value="([^"]*)"[^>]*\bchecked\b', html)


def english_customer():
    return consenting_customer(name="John Smith", email="john@example.com", language="en")


def assert_private(response) -> None:
    assert response["X-Robots-Tag"] == "noindex"
    assert "no-store" in response["Cache-Control"]


def test_get_with_score_preselects_it_and_records_nothing(client, nps_survey, customer, django_assert_max_num_queries):
    invitation = sent_invitation(nps_survey, customer)

    with django_assert_max_num_queries(2):
        page = client.get(answer_url(invitation, 3))

    assert page.status_code == 200
    html = page.content.decode()
    assert checked_values(html, "score") == ["3"]
    assert html.count('type="radio"') == 11
    assert '<html lang="pt-BR">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "<script" not in html  # works without JavaScript, and no inline script for the CSP
    assert_private(page)
    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


@pytest.mark.parametrize("score", ["11", "-1", "abc", "", "3.5"])
def test_invalid_score_in_the_link_preselects_nothing(client, nps_survey, customer, score):
    invitation = sent_invitation(nps_survey, customer)

    page = client.get(answer_url(invitation) + f"?score={score}")

    assert page.status_code == 200
    assert checked_values(page.content.decode(), "score") == []


@pytest.mark.parametrize(("kind", "scores"), [(Kind.CSAT, range(1, 6)), (Kind.CES, range(1, 8))])
def test_csat_and_ces_show_their_own_scale(client, kind, scores):
    invitation = sent_invitation(make_survey(kind), english_customer())

    html = client.get(answer_url(invitation, 0)).content.decode()  # 0 is off these scales

    assert re.findall(r'name="score" value="(\d+)"', html) == [str(s) for s in scores]
    assert checked_values(html, "score") == []
    low, high = ("Very unsatisfied", "Very satisfied") if kind == Kind.CSAT else ("Very difficult", "Very easy")
    assert f"{scores[0]} = {low}" in html and f"{scores[-1]} = {high}" in html


def test_post_records_the_answer_and_redirects_to_the_thanks_page(
    client, nps_survey, customer, django_assert_max_num_queries
):
    # (the query count of a POST is asserted on a passive answer below: a detractor's follow-up
    # work belongs to the closing-the-loop rules, which grow with other apps)
    invitation = sent_invitation(nps_survey, customer)
    url = answer_url(invitation)  # the token holds a timestamp: build it once

    posted = client.post(url, {"score": "3", "comment": "Entrega atrasou"})

    assert posted.status_code == 302
    assert posted["Location"] == url + "thanks/"
    assert_private(posted)
    response = Response.objects.get(invitation=invitation)
    assert (response.score, response.comment, response.category) == (3, "Entrega atrasou", "detractor")
    with django_assert_max_num_queries(2):
        thanks = client.get(posted["Location"])
    assert thanks.status_code == 200
    html = thanks.content.decode()
    assert '<span class="sv-given">3</span>' in html
    assert "Entrega atrasou" in html
    assert f'href="{url}"' in html  # offers to change the answer
    assert_private(thanks)


def test_a_passive_answer_costs_a_few_queries(client, nps_survey, customer, django_assert_max_num_queries):
    invitation = sent_invitation(nps_survey, customer)

    # token lookup, BEGIN, locked read, response lookup, insert, invitation update, COMMIT
    with django_assert_max_num_queries(8):
        posted = client.post(answer_url(invitation), {"score": "8"})

    assert posted.status_code == 302
    assert Response.objects.get().score == 8


def test_answering_twice_updates_the_one_response(client, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    client.post(answer_url(invitation), {"score": "3", "comment": "Ruim"})

    # the page shows the saved answer and says it can be changed
    html = client.get(answer_url(invitation)).content.decode()
    assert checked_values(html, "score") == ["3"]
    assert ">Ruim</textarea>" in html
    assert 'class="sv-note"' in html

    posted = client.post(answer_url(invitation), {"score": "9", "comment": "Resolveram rápido"})

    assert posted.status_code == 302
    response = Response.objects.get()
    assert (response.invitation_id, response.score, response.comment) == (invitation.pk, 9, "Resolveram rápido")
    assert response.times_answered == 2


@pytest.mark.parametrize("score", ["11", "-1", "abc", ""])
def test_invalid_score_rerenders_with_the_error_and_saves_nothing(client, score):
    invitation = sent_invitation(make_survey(Kind.NPS), english_customer())

    page = client.post(answer_url(invitation), {"score": score, "comment": "Texto que deve voltar"})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'role="alert"' in html
    assert '<p class="sv-error" id="score-error">Choose a score from 0 to 10. </p>' in html
    assert 'aria-describedby="score-error"' in html
    assert ">Texto que deve voltar</textarea>" in html  # what was typed is kept
    assert checked_values(html, "score") == []
    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_exit_survey_shows_reasons_and_refuses_an_unknown_one(client):
    invitation = sent_invitation(make_survey(Kind.EXIT), english_customer())

    html = client.get(answer_url(invitation)).content.decode()
    assert 'value="Price"' in html and 'value="Switched to a competitor"' in html
    assert 'name="score"' not in html

    refused = client.post(answer_url(invitation), {"reason": "Made up"})
    assert refused.status_code == 200
    assert "Choose one of the reasons." in refused.content.decode()
    assert not Response.objects.exists()

    posted = client.post(answer_url(invitation), {"reason": "Price", "comment": "Too expensive"})
    assert posted.status_code == 302
    assert (Response.objects.get().reason, Response.objects.get().score) == ("Price", None)
    thanks = client.get(posted["Location"]).content.decode()
    assert '<span class="sv-given">Price</span>' in thanks


def test_english_customer_sees_the_page_in_english(client):
    invitation = sent_invitation(make_survey(Kind.NPS), english_customer())
    client.cookies["django_language"] = "pt-br"  # the browser's language does not matter

    page = client.get(answer_url(invitation, 10))

    html = page.content.decode()
    assert '<html lang="en">' in html
    assert page["Content-Language"] == "en"
    assert "how likely are you to recommend" in html
    assert "0 = Not at all likely" in html and "10 = Extremely likely" in html
    assert ">Send my answer</button>" in html
    assert "Why?" in html

    posted = client.post(answer_url(invitation), {"score": "10"})
    thanks = client.get(posted["Location"]).content.decode()
    assert "Thank you for your answer!" in thanks
    assert "Change my answer" in thanks


def test_portuguese_customer_gets_a_portuguese_page(client, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)

    page = client.get(answer_url(invitation, 8), HTTP_ACCEPT_LANGUAGE="en")

    assert page.status_code == 200
    assert page["Content-Language"] == "pt-br"
    html = page.content.decode()
    assert '<html lang="pt-BR">' in html
    assert "<fieldset" in html and "<legend" in html
    assert re.search(r'<label class="sv-choice" for="score-0">0<span class="sv-vh"> – [^<]+</span></label>', html)


def refused(page, status: int) -> str:
    assert page.status_code == status
    html = page.content.decode()
    assert_private(page)
    return html


def test_tampered_token_is_refused_with_a_friendly_404(client, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    token = links.invitation_token(invitation.pk, invitation.nonce)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    url = reverse("surveys:answer", args=[tampered])

    for page in (
        client.get(url, HTTP_ACCEPT_LANGUAGE="en"),
        client.post(url, {"score": "10"}, HTTP_ACCEPT_LANGUAGE="en"),
    ):
        html = refused(page, 404)
        assert "This link is not valid" in html
        assert "Ana" not in html and "ana@" not in html
    assert refused(client.get(reverse("surveys:thanks", args=[tampered])), 404)
    assert refused(client.get(reverse("surveys:answer", args=["garbage"])), 404)
    assert not Response.objects.exists()


def test_another_customers_id_with_my_nonce_is_refused_and_changes_nothing(client, nps_survey, customer):
    # given Ana answered, and another customer holds a link of their own
    mine = sent_invitation(nps_survey, customer)
    services.response_submit(invitation=mine, score=3, comment="Meu comentário")
    theirs = sent_invitation(nps_survey)
    forged = reverse("surveys:answer", args=[links.invitation_token(mine.pk, theirs.nonce)])

    html = refused(client.get(forged), 404)
    assert "Meu comentário" not in html and "Ana" not in html
    refused(client.post(forged, {"score": "10", "comment": "Trocado"}), 404)

    response = Response.objects.get()
    assert (response.invitation_id, response.score, response.comment) == (mine.pk, 3, "Meu comentário")
    theirs.refresh_from_db()
    assert theirs.status == Invitation.Status.SENT


def test_expired_link_is_refused_with_410_and_replay_changes_nothing(client, nps_survey, customer):
    # given an answer recorded while the link was valid
    invitation = sent_invitation(nps_survey, customer)
    first = client.post(answer_url(invitation), {"score": "4", "comment": "Antes"})
    assert first.status_code == 302
    services.follow_ups_run_due()  # the worker closes the loop: one task for the detractor
    # when the link expires and the same request is replayed
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    for page in (
        client.get(answer_url(invitation, 10), HTTP_ACCEPT_LANGUAGE="en"),
        client.post(answer_url(invitation), {"score": "10", "comment": "Depois"}, HTTP_ACCEPT_LANGUAGE="en"),
        client.get(first["Location"], HTTP_ACCEPT_LANGUAGE="en"),
    ):
        assert "This survey link has expired" in refused(page, 410)

    response = Response.objects.get()
    assert (response.score, response.comment, response.times_answered) == (4, "Antes", 1)
    assert Task.objects.filter(origin=Task.Origin.SURVEY).count() == 1


def test_post_without_csrf_token_is_refused():
    invitation = sent_invitation(make_survey(Kind.NPS), consenting_customer())
    browser = Client(enforce_csrf_checks=True)

    url = answer_url(invitation)
    refused = browser.post(url, {"score": "10"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 403
    assert "Open the survey again" in refused.content.decode()  # the survey's own page, not Django's
    assert f'href="{url}"' in refused.content.decode()
    assert not Response.objects.exists()

    # the real form (cookie + hidden token) goes through
    html = browser.get(answer_url(invitation, 10)).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    posted = browser.post(answer_url(invitation), {"score": "10", "csrfmiddlewaretoken": csrf})
    assert posted.status_code == 302
    assert Response.objects.get().score == 10


def test_thanks_before_answering_goes_back_to_the_question(client, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)
    url = answer_url(invitation)

    page = client.get(url + "thanks/")

    assert page.status_code == 302
    assert page["Location"] == url


def test_other_methods_are_not_allowed(client, nps_survey, customer):
    invitation = sent_invitation(nps_survey, customer)

    assert client.put(answer_url(invitation)).status_code == 405
    assert client.post(thanks_url(invitation)).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_two_customers_answering_the_same_survey_do_not_wait_for_each_other():
    # given customer A's answer is in an open transaction (its invitation row locked)
    survey = make_survey(Kind.NPS)
    first, second = sent_invitation(survey), sent_invitation(survey)
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def answer_and_hold() -> None:
        try:
            with transaction.atomic():
                services.response_submit(invitation=first, score=9)
                holding.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=answer_and_hold)
    thread.start()
    try:
        assert holding.wait(10)
        # when customer B answers the same survey meanwhile, B does not queue behind A
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            services.response_submit(invitation=second, score=3)
    finally:
        release.set()
        thread.join(10)

    assert not errors
    assert sorted(Response.objects.values_list("score", flat=True)) == [3, 9]


def test_public_answer_defers_closing_the_loop_to_the_worker_once(client, nps_survey, customer):
    from support.models import Ticket

    invitation = sent_invitation(nps_survey, customer)
    assert client.post(answer_url(invitation), {"score": "2", "comment": "Ruim"}).status_code == 302
    # the request only recorded the answer
    response = Response.objects.get()
    assert response.follow_up_due and not Task.objects.exists() and not Ticket.objects.exists()

    # the worker task (run twice, as a retried task would be) closes the loop once
    assert services.response_follow_up(response_id=response.pk) is True
    assert services.response_follow_up(response_id=response.pk) is False
    assert Task.objects.filter(origin=Task.Origin.SURVEY).count() == 1 and Ticket.objects.count() == 1

    # answering again through the page queues one more follow-up; no second task or ticket
    client.post(answer_url(invitation), {"score": "1", "comment": "Pior"})
    assert services.follow_ups_run_due() == 1
    assert Task.objects.count() == 1 and Ticket.objects.count() == 1
