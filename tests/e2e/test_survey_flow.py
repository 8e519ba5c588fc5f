"""End to end: an NPS survey e-mail reaches a real SMTP server on loopback; the customer follows the
score link in Chromium, adds a comment and submits; the response, the owner's task and the figure
on the manager's results page appear."""

import os
import re
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse
from playwright.sync_api import Page, sync_playwright

from funnel.models import Task
from messaging import services as messaging_services
from messaging import tasks as messaging_tasks
from messaging.models import Message
from posvenda import roles
from surveys.models import Invitation, Kind, Response
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.factories import UserFactory
from tests.surveys.conftest import consenting_customer, make_survey, sent_invitation

pytestmark = pytest.mark.e2e

SCREENS = Path(os.environ.get("E2E_SCREENSHOT_DIR", "/tmp/screens"))
PASSWORD = "s3nha-forte-123"  # tests.factories.UserFactory


def score_links(html: str) -> dict[int, str]:
    """The scale in the e-mail: {score: url} from the <a href=… aria-label="N"> buttons."""
    return {int(score): url for url, score in re.findall(r'<a href="([^"]+)" aria-label="(\d+)"', html)}


def test_customer_answers_the_emailed_nps_survey_in_the_browser(live_server, smtp_inbox, settings):
    # given an agent's consenting customer and an NPS survey; links in e-mails point at this server
    settings.SITE_URL = live_server.url
    agent = UserFactory(username="carla", first_name="Carla", role=roles.AGENT)
    UserFactory(username="gerente", first_name="Gil", role=roles.MANAGER)
    customer = consenting_customer(owner=agent, name="Ana Souza", email="ana@example.com.br")
    survey = make_survey(Kind.NPS, name="NPS trimestral")

    # when the invitation is sent and messaging delivers it over SMTP (no broker in this test: the
    # delivery a worker would run is called directly)
    with mock.patch.object(messaging_tasks.deliver, "delay"):
        invitation = sent_invitation(survey, customer)
    messaging_services.message_deliver(message_id=invitation.message_id)

    # then the e-mail arrives with the scale, one link per score
    assert Message.objects.get(pk=invitation.message_id).status == Message.Status.SENT
    assert len(smtp_inbox.messages) == 1
    recipients, email = smtp_inbox.messages[0]
    assert recipients == ["ana@example.com.br"]
    links = score_links(email.get_body(preferencelist=("html",)).get_content())
    assert sorted(links) == list(range(11))
    assert links[3].startswith(live_server.url) and links[3].endswith("?score=3")

    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="pt-BR")
            answer_in_browser(page, links[3])
            # and a manager sees the answer on the survey's results page
            manager_page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR")
            nps_shown, comments = results_as_manager(manager_page, live_server.url, survey.pk)
        finally:
            browser.close()

    # the page only recorded the answer; the worker's follow-up job closes the loop
    from surveys.services import follow_ups_run_due

    assert Response.objects.get().follow_up_due
    assert follow_ups_run_due() == 1 and follow_ups_run_due() == 0

    # and the database holds what the browser showed: one response, the owner's follow-up task
    response = Response.objects.get()
    assert (response.invitation_id, response.customer_id) == (invitation.pk, customer.pk)
    assert (response.score, response.category, response.comment) == (3, "detractor", "A entrega atrasou duas semanas.")
    assert Invitation.objects.get(pk=invitation.pk).status == Invitation.Status.ANSWERED
    task = Task.objects.get(customer=customer, origin=Task.Origin.SURVEY)
    assert task.owner_id == agent.pk
    assert task.status == Task.Status.OPEN
    assert "A entrega atrasou duas semanas." in task.notes
    assert response.loop_task_id == task.pk and response.loop == Response.Loop.OPEN
    assert nps_shown == "-100"  # one detractor, nobody else
    assert "A entrega atrasou duas semanas." in comments


def results_as_manager(page: Page, base: str, survey_id: int) -> tuple[str, str]:
    page.goto(base + reverse("login"))
    page.fill("#id_username", "gerente")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url and "/login" not in url)
    page.goto(base + reverse("surveys:results", args=[survey_id]))
    page.screenshot(path=str(SCREENS / "survey_results_1280.png"), full_page=True)
    return page.locator("#kpi-score").inner_text().strip(), page.locator("main").inner_text()


def answer_in_browser(page: Page, link: str) -> None:
    page.goto(link)
    # the score clicked in the e-mail is preselected; nothing is recorded by opening the page
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert page.is_checked("#score-3")
    assert page.locator("input[name=score]:checked").count() == 1
    # the scale works from the keyboard: arrow keys move the choice inside the radio group
    page.focus("#score-3")
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#score-4")
    page.keyboard.press("ArrowLeft")
    assert page.is_checked("#score-3")
    page.fill("#comment", "A entrega atrasou duas semanas.")
    page.screenshot(path=str(SCREENS / "survey_answer_390.png"), full_page=True)

    page.click("button[type=submit]")
    page.wait_for_url("**/thanks/")
    assert page.locator(".sv-given").inner_text() == "3"
    assert "A entrega atrasou duas semanas." in page.locator(".sv-comment").inner_text()
    assert page.locator(f"a[href='{link.split('?')[0].removeprefix(link.split('/surveys/')[0])}']").count() == 1
    page.screenshot(path=str(SCREENS / "survey_thanks_390.png"), full_page=True)
