"""An agent's day in the browser: log in, create a customer, find it, open its 360 page, add a note."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, sync_playwright

from customers.models import Customer, Interaction
from posvenda import roles
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.factories import CustomerFactory, UserFactory, valid_cpf

pytestmark = pytest.mark.e2e

SCREENS = Path(os.environ.get("E2E_SCREENSHOT_DIR", "/tmp/screens"))
PASSWORD = "s3nha-forte-123"


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{reverse('customers:list')}")


def test_agent_creates_finds_and_adds_a_note_without_reload(live_server):
    # given an agent and some other customers in the book. All ORM work happens before or after
    # the browser session: while Playwright's loop runs, Django would open untracked connections.
    agent = UserFactory(username="carla", first_name="Carla", role=roles.AGENT)
    for i in range(3):
        CustomerFactory(owner=agent if i % 2 else None, name=f"Cliente Exemplo {i}")
    cpf = valid_cpf(987654321)
    cpf_display = f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            detail_path = run_flow(browser, live_server.url, cpf, cpf_display)
        finally:
            browser.close()

    # then the database holds what the browser showed
    customer = Customer.objects.get(document=cpf)
    assert detail_path == reverse("customers:detail", args=[customer.pk])
    assert customer.owner_id == agent.pk
    assert customer.mrr == 1250
    note = Interaction.objects.get()
    assert (note.customer_id, note.author_id, note.kind) == (customer.pk, agent.pk, "call")


def run_flow(browser: Browser, base: str, cpf: str, cpf_display: str) -> str:
    # a Brazilian browser: pt-BR money input and formats
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR")

    # when she logs in
    log_in(page, base, "carla")

    # and creates a customer with a formatted CPF
    page.click(f"a[href='{reverse('customers:create')}']")
    page.fill("#id_name", "Joana Ribeiro")
    page.fill("#id_document", cpf_display)
    page.fill("#id_email", "joana@example.com.br")
    page.fill("#id_phone", "(11) 98765-4321")
    page.fill("#id_tags", "vip, loja física")
    page.fill("#id_mrr", "1.250,00")
    page.click("form.form-card button[type=submit]")
    page.wait_for_selector("h1:has-text('Joana Ribeiro')")
    detail_path = page.url.removeprefix(base)

    # and finds it from the list by the CPF digits
    page.goto(base + reverse("customers:list"))
    page.screenshot(path=str(SCREENS / "list.png"), full_page=True)
    page.fill("#f-q", cpf)
    page.click(".filters button[type=submit]")
    page.wait_for_url("**q=*")
    rows = page.locator("table.customer-table tbody tr")
    assert rows.count() == 1
    assert cpf_display in rows.first.inner_text()
    assert "R$ 1.250,00" in rows.first.inner_text()
    page.click("a.customer-name:has-text('Joana Ribeiro')")
    page.wait_for_url(f"**{detail_path}")

    # and adds a note through the htmx form
    page.evaluate("window.__noReload = 'still here'")
    page.select_option("#id_kind", "call")
    page.fill("#id_subject", "Boas-vindas")
    page.fill("#id_body", "Liguei para dar as boas-vindas e agendar o onboarding.")
    page.click("#interaction-form button[type=submit]")
    page.wait_for_selector("#timeline li.timeline-item:has-text('agendar o onboarding')")

    # then the note is at the top of the timeline, the page was not reloaded, the form is empty again
    first_item = page.locator("#timeline li.timeline-item").first
    assert "Boas-vindas" in first_item.inner_text()
    assert page.evaluate("window.__noReload") == "still here"
    assert page.input_value("#id_body") == ""
    assert not page.locator("#timeline .timeline-empty").is_visible()
    page.screenshot(path=str(SCREENS / "detail.png"), full_page=True)

    # and a validation error comes back inside the form, still without a reload
    page.click("#interaction-form button[type=submit]")
    page.wait_for_selector("#interaction-form .errorlist")
    assert page.evaluate("window.__noReload") == "still here"
    assert page.locator("#timeline li.timeline-item").count() == 1

    # and the pages fit a phone screen
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="pt-BR")
    phone_page = phone.new_page()
    log_in(phone_page, base, "carla")
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone_page.screenshot(path=str(SCREENS / "list-phone.png"), full_page=True)
    phone_page.goto(base + detail_path)
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone_page.screenshot(path=str(SCREENS / "detail-phone.png"), full_page=True)
    phone.close()
    return detail_path
