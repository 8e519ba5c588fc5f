"""The health score in Chromium: an agent opens their red customer from the list (sorted by health),
reads the 360 panel, rates the customer (htmx swaps the panel in place) and sees the badge on the
funnel board.

The customer: NPS 0 (→ 0) and three breached tickets (→ 0): score 0, red. Rated 5 (→ 100):
(25 × 0 + 20 × 0 + 15 × 100) ÷ 60 = 25, still red."""

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from metrics import health
from posvenda import roles
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.factories import CustomerFactory, UserFactory
from tests.metrics.test_health_compute import red_customer

pytestmark = pytest.mark.e2e

PASSWORD = "s3nha-forte-123"  # tests.factories.UserFactory


def test_agent_reads_and_rates_a_red_customer(live_server):
    # given
    agent = UserFactory(username="dora", role=roles.AGENT)
    customer = red_customer(agent)
    CustomerFactory(owner=agent, name="Sem nota")
    health.health_recompute_all()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + reverse("login"))
        page.fill("#id_username", "dora")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"**{reverse('customers:list')}")
        # the list, sorted by health: the red customer first, with its badge
        page.goto(live_server.url + reverse("customers:list") + "?sort=health")
        first_row = page.locator("table.customer-table tbody tr").first
        assert first_row.locator(".customer-name").inner_text() == "Cliente em Risco"
        assert first_row.locator(".health-badge.health-red").inner_text().startswith("0")
        # the 360 panel
        first_row.locator(".customer-name").click()
        page.wait_for_url(f"**{reverse('customers:detail', args=[customer.pk])}")
        assert page.inner_text("#health-score") == "0"
        assert page.inner_text("#health-band") == "At risk"
        assert "Latest NPS/CSAT" in page.inner_text("#health-why")
        assert page.locator("#health svg polyline").count() == 1
        # rating in place
        page.select_option("#health-rating-select", "5")
        with page.expect_response(lambda r: "/rating/" in r.url):
            page.click("#health button[type=submit]")
        page.wait_for_function("document.querySelector('#health-score').innerText === '25'")
        assert page.url.endswith(reverse("customers:detail", args=[customer.pk]))
        assert page.eval_on_selector("#health-rating-select", "e => e.value") == "5"
        # the board card
        page.goto(live_server.url + reverse("funnel:board"))
        card = page.locator(f"#card-{customer.pk}")
        assert card.locator(".health-badge.health-red").inner_text().startswith("25")
        browser.close()
