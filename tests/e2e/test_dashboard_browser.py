"""The demo's dashboard in a real headless browser (Debian's Chromium, driven by Playwright).

It loads with no console error and no network request, a filter changes the chart's data,
hover shows an hour's values, a marker click opens and scrolls to its anomaly's card, tables
sort and export as CSV, and the page stays under 5 MB. `make test` installs Chromium from the
system packages when it is missing, so this runs in CI instead of skipping.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

MAX_PAGE_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail(
            "the dashboard's browser test needs Chromium: `make test` installs Debian's "
            "chromium package when run as root (or: apt-get install chromium)"
        )
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any, demo_lake: tuple[Path, str, dict[str, Any]]) -> Iterator[Any]:
    lake, _, _ = demo_lake
    path = lake / "reports" / "dashboard.html"
    assert path.stat().st_size < MAX_PAGE_BYTES
    context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("request", lambda r: requests.append(r.url))
    tab.goto(path.as_uri())
    tab.wait_for_selector("#chart svg")
    tab.problems, tab.requests, tab.page_uri = problems, requests, path.as_uri()
    yield tab
    context.close()


def chart_total(tab: Any) -> float:
    return float(tab.evaluate("() => window.egressChartData().total"))


def test_the_page_loads_offline_with_no_console_error(page: Any) -> None:
    page.wait_for_timeout(200)
    assert page.problems == []
    # The page itself is the only thing loaded: no script, style, font or image from anywhere.
    assert page.requests == [page.page_uri]
    assert page.locator("#chart svg path[data-class]").count() >= 2


def test_a_filter_changes_the_chart_s_data(page: Any) -> None:
    everything = chart_total(page)
    classes = page.evaluate("() => window.egressChartData().classes")
    assert "internet" in classes and len(classes) >= 2
    page.select_option("#f-class", "internet")
    internet = chart_total(page)
    assert 0 < internet < everything
    assert page.evaluate("() => window.egressChartData().classes") == ["internet"]
    assert page.locator("#chart svg path[data-class]").count() == 1
    assert page.locator("#kpi-selection").inner_text() == f"${internet:,.2f}"
    # The time range narrows it further; reset brings the whole period back.
    page.fill("#f-from", page.get_attribute("#f-to", "value"))
    page.dispatch_event("#f-from", "change")
    assert 0 < chart_total(page) < internet
    page.click("#f-reset")
    assert chart_total(page) == pytest.approx(everything)


def test_hover_shows_the_hour_s_values(page: Any) -> None:
    box = page.locator("#chart svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6)
    tip = page.locator("#tip")
    assert tip.is_visible()
    assert " UTC · $" in tip.inner_text() and "internet: $" in tip.inner_text()


def test_a_marker_click_opens_and_scrolls_to_its_card(page: Any) -> None:
    markers = page.locator("#chart .marker")
    assert markers.count() >= 1
    marker = markers.nth(markers.count() - 1)
    anomaly_id = marker.get_attribute("data-anomaly")
    card = page.locator(f"#card-{anomaly_id}")
    assert card.get_attribute("open") is None
    assert page.evaluate("() => window.scrollY") == 0
    marker.locator("text").click()
    page.wait_for_timeout(100)
    assert card.get_attribute("open") is not None
    # The page scrolled down to the card: its top is inside the view.
    assert page.evaluate("() => window.scrollY") > 0
    top = card.evaluate("c => c.getBoundingClientRect().top")
    assert 0 <= top < page.evaluate("() => window.innerHeight") / 2
    assert anomaly_id in card.inner_text()


def test_tables_sort_by_a_column_and_export_csv(page: Any) -> None:
    talkers = page.locator("#t-talkers")
    usd = talkers.locator("th", has_text="usd")
    usd.click()  # ascending
    values = [
        float(v)
        for v in talkers.locator("tbody td.num:last-child").evaluate_all(
            "cells => cells.map(c => c.dataset.v)"
        )
    ]
    assert values == sorted(values) and len(values) >= 3
    usd.click()  # descending
    first = float(talkers.locator("tbody tr:first-child td:last-child").get_attribute("data-v"))
    assert first == max(values)
    with page.expect_download() as done:
        page.locator("#t-talkers").evaluate("t => t.previousElementSibling.click()")
    download = done.value
    assert download.suggested_filename == "top_talkers.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0] == ["source", "dest_class", "account", "region", "gb", "usd"]
    assert float(rows[1][5]) == first and len(rows) == len(values) + 1
