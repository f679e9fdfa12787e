"""Screenshot the running dashboard once every chart is drawn: `python scripts/shoot.py URL OUT.png [HEIGHT [CHARTS]]`
(CHARTS: the charts to wait for, default the piece page's; 1 for the Corpus page)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_util import MIN_CHARTS, alerts, exceptions, launch_browser, new_page, wait_ready  # noqa: E402

if __name__ == "__main__":
    from playwright.sync_api import sync_playwright

    url, out = sys.argv[1], sys.argv[2]
    height = int(sys.argv[3]) if len(sys.argv) > 3 else 3600
    charts = int(sys.argv[4]) if len(sys.argv) > 4 else MIN_CHARTS
    with sync_playwright() as p:
        browser = launch_browser(p)
        page = new_page(browser, viewport={"width": 1600, "height": height})
        t0 = time.time()
        page.goto(url)
        print(f"drawn in {wait_ready(page, 120, min_charts=charts, t0=t0):.1f} s")
        print("exceptions:", exceptions(page), "alerts:", alerts(page))
        page.screenshot(path=out, full_page=True)
        browser.close()
