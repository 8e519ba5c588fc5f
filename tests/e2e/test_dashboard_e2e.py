"""The manager's dashboard in Chromium: log in, follow the Dashboard link, the charts are drawn by
Chart.js, change the period (a preset, then custom dates), download a chart's CSV.

The book, relative to today (local days): 5 days ago NPS 10 and 9 (agent's customer) and 3 (other
agent's customer); 60 days ago 0 (agent's customer).
- last 30 days: (2 promoters − 1 detractor) ÷ 3 = 33,3
- last 90 days: (2 − 2) ÷ 4 = 0,0
- the single day 60 days ago: one detractor → −100,0"""

import csv
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, sync_playwright

from posvenda import roles
from surveys.models import Kind
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.factories import CustomerFactory, UserFactory
from tests.metrics.test_activity_rollups import answer, at

pytestmark = pytest.mark.e2e

SCREENS = Path(os.environ.get("E2E_SCREENSHOT_DIR", "/tmp/screens"))
PASSWORD = "s3nha-forte-123"  # tests.factories.UserFactory
CANVASES = "Array.from(document.querySelectorAll('canvas')).map((c) => c.id)"
DRAWN = "Array.from(document.querySelectorAll('canvas')).filter((c) => Chart.getChart(c)).map((c) => c.id)"


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{reverse('customers:list')}")


def nps_value(page: Page) -> str:
    return page.locator("#kpi-nps .kpi-value").inner_text()


def apply(page: Page, url_part: str) -> None:
    page.click("#dash-filters button[type=submit]")
    page.wait_for_url(f"**{url_part}**")
    page.wait_for_load_state("load")


def test_manager_reads_the_dashboard_changes_the_period_and_downloads_a_csv(live_server):
    # given a manager and the book (ORM work before the browser session)
    UserFactory(username="gil", first_name="Gil", role=roles.MANAGER)
    mine = CustomerFactory(owner=UserFactory(username="carla", role=roles.AGENT))
    theirs = CustomerFactory(owner=UserFactory(username="rui", role=roles.AGENT))
    today = timezone.localdate()
    recent, older = today - timedelta(days=5), today - timedelta(days=60)
    answer(mine, Kind.NPS, 10, at(recent, 12))
    answer(mine, Kind.NPS, 9, at(recent, 12))
    answer(theirs, Kind.NPS, 3, at(recent, 12))
    answer(mine, Kind.NPS, 0, at(older, 12))
    SCREENS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR", accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # when the manager logs in and follows the Dashboard link in the nav
            log_in(page, live_server.url, "gil")
            page.click(f"nav.mainnav a[href='{reverse('metrics:dashboard')}']")
            page.wait_for_url(f"**{reverse('metrics:dashboard')}")
            page.wait_for_load_state("load")

            # then the last 30 days: NPS 33,3 (pt-BR decimal comma) and every canvas holds a chart
            assert nps_value(page) == "33,3"
            canvases = page.evaluate(CANVASES)
            assert {"chart-nps_trend", "chart-nps_distribution"} <= set(canvases)
            assert page.evaluate(DRAWN) == canvases
            # the distribution's bars: scores 3, 9 and 10
            bars = page.evaluate(
                "Chart.getChart(document.getElementById('chart-nps_distribution')).data.datasets[0].data"
            )
            assert bars == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1]
            # the chart writes its figures as the page does
            tooltip = page.evaluate(
                """(() => {
                  const chart = Chart.getChart(document.getElementById('chart-nps_trend'));
                  return chart.options.plugins.tooltip.callbacks.label({dataset: chart.data.datasets[0], raw: 33.333});
                })()"""
            )
            assert tooltip == "NPS: 33,3"
            page.screenshot(path=str(SCREENS / "dashboard-30d.png"), full_page=True)

            # when the period becomes the last 90 days
            page.select_option("#id_period", "90d")
            apply(page, "period=90d")
            # then the detractor of 60 days ago counts too
            assert nps_value(page) == "0,0"
            assert page.evaluate(DRAWN) == page.evaluate(CANVASES)

            # when custom dates are typed (the period follows to "custom") and applied
            page.fill("#id_start", older.isoformat())
            page.fill("#id_end", older.isoformat())
            assert page.input_value("#id_period") == "custom"
            apply(page, "period=custom")
            # then that day alone: one detractor
            assert nps_value(page) == "−100,0"
            assert "chart-nps_distribution" in page.evaluate(DRAWN)

            # when the distribution's CSV link is clicked, the file holds the same figures
            with page.expect_download() as download_info:
                page.click("a[data-csv='nps_distribution']")
            download = download_info.value
            assert download.suggested_filename == f"nps_distribution-{older:%Y%m%d}-{older:%Y%m%d}.csv"
            rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
            assert len(rows) == 12 and len(rows[0]) == 2
            assert [row[1] for row in rows[1:]] == ["1", *(["0"] * 10)]
            page.screenshot(path=str(SCREENS / "dashboard-custom.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
