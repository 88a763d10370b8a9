"""Keep web console pages open in headless Chromium while bench/api.py measures /v1
(`bench/api.py --console overview,users/1`): signed in with an API key, each page
reloaded every --reload seconds (the overview also refreshes its own panel every 10 s),
until SIGTERM. Prints how many page loads and console requests it made.

    python bench/console_page.py --url http://127.0.0.1:8000 --key ig_... --pages overview,users/1
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--pages", default="overview", help="comma-separated: overview, users/1, items/50, runs, ...")
    p.add_argument("--reload", type=float, default=10.0, help="seconds between reloads of each page")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    requests, loads = 0, 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context()

        def count(_: object) -> None:
            nonlocal requests
            requests += 1

        context.on("request", count)
        page = context.new_page()
        page.goto(f"{a.url}/console/login")
        page.fill("input[name=api_key]", a.key)
        page.click("button[type=submit]")
        pages = []
        for name in a.pages.split(","):
            tab = context.new_page()
            tab.goto(f"{a.url}/console/{'' if name == 'overview' else name}")
            pages.append(tab)
            loads += 1
        print("console pages open", flush=True)
        while not stop:
            deadline = time.monotonic() + a.reload
            while not stop and time.monotonic() < deadline:
                pages[0].wait_for_timeout(200)  # lets htmx's own refresh run
            for tab in pages if not stop else []:
                tab.reload()
                loads += 1
        browser.close()
    print(f"console: {loads} page loads, {requests} requests (pages, panels, static files)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
