"""Screenshots of what an operator looks at, after `make demo`: the dashboard and Dagit's page of
`egress_flows_hourly` (its partitions and one partition's own metadata).

    make screenshots            # writes docs/screenshots/dashboard.png and dagit-egress-flows.png

Drives Debian's Chromium (`make browser` installs it) through Playwright; Dagit is started with
`egress dev` on the demo's lake and stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"screenshots: {url} did not answer within {seconds:.0f} s")


def main() -> int:
    lake = Path(os.environ.get("EGRESS_LAKE_DIR", ROOT / "lake")).resolve()
    page_path = lake / "reports" / "dashboard.html"
    if not page_path.is_file():
        print(f"screenshots: {page_path} is missing; run `make demo` first", file=sys.stderr)
        return 2
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: Chromium is missing; run `make browser`", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "EGRESS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(lake / ".dagster")}
    dagit = subprocess.Popen(
        [sys.executable, "-m", "egress_platform.app.cli", "dev", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(page_path.as_uri())
            page.wait_for_selector("#chart svg")
            page.select_option("#f-class", "internet")
            box = page.locator("#chart svg").bounding_box()
            if box:
                page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6)
            page.screenshot(path=str(OUT / "dashboard.png"))
            print(f"wrote {OUT / 'dashboard.png'}")
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/server_info", 180)
            # One busy hour of the demo's internet incident: its own rows, $ and talkers.
            partition = os.environ.get("EGRESS_SCREENSHOT_PARTITION", "2026-11-12-20:00")
            page.goto(f"{base}/assets/egress_flows_hourly?view=partitions&partition={partition}")
            page.wait_for_timeout(4000)
            skip = page.get_by_role("button", name="Skip")
            if skip.count():
                skip.first.click()  # Dagit's first-visit newsletter prompt
            page.wait_for_timeout(4000)  # the partition health bar and the partition's metadata
            page.screenshot(path=str(OUT / "dagit-egress-flows.png"))
            print(f"wrote {OUT / 'dagit-egress-flows.png'}")
            browser.close()
    finally:
        dagit.send_signal(signal.SIGTERM)
        dagit.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
