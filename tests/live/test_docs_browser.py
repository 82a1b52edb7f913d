"""A new user's first visit to /docs, in a real headless Chromium against a real server:
Authorize with the dialog's defaults (password flow, empty client fields, every scope
selected), then "Try it out" on GET /user/me shows the user. The browser is kept
offline: any request for a host other than this machine goes to a dead local proxy and
no name resolves, and the page's own record of what it loaded must name 127.0.0.1 only.

Debian's chromium and chromedriver (/usr/bin); outside CI the test skips without them,
in CI (CI=true) scripts/test.sh installs them and the test must run. Screenshots go to
SCREENSHOT_DIR, else to the test's tmp_path; a failure names the folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.support import PASSWORD, live_server

pytestmark = pytest.mark.usefixtures("user")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TIMEOUT = 30
SCOPES = "profile read write admin"  # alice lacks admin: "select all" asks for it anyway


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
    if IN_CI:
        pytest.fail(f"{reason}; CI must run the browser test (scripts/test.sh installs them)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")  # shown with a failure's captured output
    return folder


@pytest.fixture
def driver() -> Iterator[Any]:
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1800",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--no-pings", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--metrics-recording-only", "--disable-breakpad",
        # offline: loopback is never proxied; everything else meets a closed local port
        "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()


def test_docs_authorize_and_try_me_in_a_browser(database_url: str, driver: Any, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, TIMEOUT)

    def visible(css: str, within: Any = None) -> WebElement:
        scope = within or driver
        return wait.until(lambda _: next((e for e in scope.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None))

    def click(element: WebElement) -> None:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        wait.until(ec.element_to_be_clickable(element))
        element.click()

    def until(check: Callable[[], object], what: str) -> Any:
        return WebDriverWait(driver, TIMEOUT, ignored_exceptions=(AssertionError,)).until(lambda _: check(), what)

    with live_server(database_url, SCOPES_SUPPORTED=SCOPES, RATE_LIMIT_ENABLED="false") as base:
        try:
            driver.get(f"{base}/docs")
            click(visible("button.btn.authorize"))
            dialog = visible(".modal-ux")
            oauth = next(
                c for c in dialog.find_elements(By.CSS_SELECTOR, ".auth-container")
                if "OAuth2PasswordBearer" in c.text
            )
            visible("#oauth_username", oauth).send_keys("alice")
            visible("#oauth_password", oauth).send_keys(PASSWORD)
            click(next(a for a in oauth.find_elements(By.TAG_NAME, "a") if a.text.strip().lower() == "select all"))
            click(next(b for b in oauth.find_elements(By.CSS_SELECTOR, "button.authorize") if b.text.strip() == "Authorize"))
            until(lambda: "Logout" in oauth.text and "Authorized" in oauth.text, "the dialog shows alice authorized")
            assert not oauth.find_elements(By.CSS_SELECTOR, ".errors"), oauth.text
            click(visible("button.btn-done", dialog))

            me = visible("#operations-session-me_user_me_get")
            click(me.find_element(By.CSS_SELECTOR, ".opblock-summary"))
            click(visible("button.try-out__btn", me))
            click(visible("button.execute", me))
            status = visible(".live-responses-table .response .response-col_status", me)
            until(lambda: status.text.strip() == "200", "GET /user/me answers 200")
            body = visible(".live-responses-table .response-col_description pre", me).text
            assert '"username": "alice"' in body, body
            assert '"admin"' not in body and '"write"' in body, body  # select-all granted alice's own scopes

            loaded = driver.execute_script(
                "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))"
            )
            assert any(u.endswith("/user/me") for u in loaded), loaded
            assert all(u.startswith(f"{base}/") for u in loaded), [u for u in loaded if not u.startswith(base)]
            driver.save_screenshot(str(screenshots / "docs-success.png"))
        except Exception as exc:
            shot = screenshots / "docs-failure.png"
            driver.save_screenshot(str(shot))
            exc.add_note(f"screenshot of the page: {shot}")
            raise
