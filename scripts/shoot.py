"""Open the running app in headless Chromium, wait for the page to settle, save a full-page screenshot."""
import sys
import time

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def wait_quiet(page, timeout=60):
    """Wait until Streamlit's 'Running...' status is gone for a moment."""
    t0 = time.time()
    quiet_since = None
    while time.time() - t0 < timeout:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            return time.time() - t0
        time.sleep(0.1)
    raise TimeoutError("page never went quiet")


if __name__ == "__main__":
    url, out = sys.argv[1], sys.argv[2]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = b.new_page(viewport={"width": 1600, "height": int(sys.argv[3]) if len(sys.argv) > 3 else 3600})
        t0 = time.time()
        page.goto(url)
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=90000)
        wait_quiet(page)
        print(f"rendered in {time.time() - t0:.1f} s")
        print("exceptions:", page.locator('[data-testid="stException"]').count(),
              "alerts:", page.locator('[data-testid="stAlert"]').all_inner_texts())
        page.screenshot(path=out, full_page=True)
        b.close()
