"""The base of the dashboard's browser test classes: one server and one
Chromium per class, explicit waits, screenshots, and after every test the
checks that hold for the whole dashboard: no request left the server's
origin, nothing was logged at SEVERE on the console (CSP violations, script
errors, failed loads that the test did not provoke), nothing injected ran.
"""

import os
import re
import time
import unittest

from harness import OUT_OF_TIME, Browser, Config, Server, log, phase, png_size, timeout

from selenium.common.exceptions import (JavascriptException, NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

TERMINAL = ("completed", "failed", "cancelled")
STATUSES = ("pending", "queued", "processing", "completed", "failed", "cancelled")


def status_word(text):
    """The batch status a text names ("Cancelled", "failed ✗" -> the word), else the text."""
    t = (text or "").strip().lower()
    found = [s for s in STATUSES if re.search(rf"\b{s}\b", t)]
    return found[0] if len(found) == 1 else t


# Put into the page through batch metadata and a factor's source: each must
# show as text, and none may run (window.__xss stays undefined).
XSS_NOTE = "<img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
XSS_SOURCE = '<img src=x onerror="window.__xss=1"> <script>window.__xss=1</script> made-up source'


class DashboardCase(unittest.TestCase):
    mode = None  # "headers" | "keys"
    server_args = ()

    # ---- class set-up: a server, then a browser ----

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.mode, cls.server_args)
        cls.browser = None
        try:
            # Chromium starts while the server creates its database.
            with phase(f"{cls.mode} mode: start serve and headless chromium"):
                cls.server.launch()
                cls.browser = Browser(os.path.join(cls.server.tmp, "chromium-profile"))
                cls.driver = cls.browser.driver
                cls.server.wait_ready()
            cls.origin = cls.server.origin
            with phase(f"{cls.mode} mode: prepare data through the API"):
                cls.prepare()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def prepare(cls):
        """Subclasses: API clients, keys, factors, activities."""

    @classmethod
    def tearDownClass(cls):
        code = cls.cleanup()
        # SIGTERM must stop the server cleanly (CONTRACT.md section 1).
        if code != 0:
            raise AssertionError(f"serve ({cls.mode}) exited with {code} after SIGTERM")

    @classmethod
    def cleanup(cls):
        if cls.browser:
            with phase(f"{cls.mode} mode: stop chromium"):
                cls.browser.quit()
        with phase(f"{cls.mode} mode: stop serve (SIGTERM)"):
            return cls.server.stop()

    # ---- per test: allowed failed loads, log checks, failure evidence ----

    def setUp(self):
        if OUT_OF_TIME:
            raise TimeoutError("out of time: the run's budget is spent")
        log(f"--- {self.id().split('.', 1)[1]}")
        self._started = time.monotonic()
        # (url regex, status) of failed loads this test provokes on purpose;
        # Chromium logs each as a SEVERE console entry. None by default: the
        # sign-in page learns the auth mode from /ui/config.json, not from a 401.
        self.expected_load_failures = []
        self._first_request, self._first_console = len(self.browser.requests), len(self.browser.console)

    def requests_so_far(self):
        """The browser's requests since this test began (drains the log)."""
        self.browser.drain_logs()
        return self.browser.requests[self._first_request:]

    def tearDown(self):
        # The test's failure is already recorded in the result (the outcome's
        # success flag is reset for each part of a test, tearDown included).
        result = self._outcome.result
        failed = any(test is self for test, _ in result.failures + result.errors)
        if failed:
            with _quiet():
                path = self.save_screenshot(f"failure-{self.mode}-{self._testMethodName}")
                log(f"failure screenshot: {path}")
            with _quiet():
                log("page text at failure:\n" + self.driver.find_element(By.TAG_NAME, "main").text[:3000])
            log(f"serve log tail:\n{self.server.log_tail()}")
            with _quiet():
                self.after_failure()
        self.browser.drain_logs()
        requests = self.browser.requests[self._first_request:]
        console = self.browser.console[self._first_console:]
        if failed:
            for entry in console:
                log(f"console {entry.get('level')}: {entry.get('message')}")
        log(f"timing: {self._testMethodName}: {time.monotonic() - self._started:.2f} s, "
            f"{len(requests)} requests")
        if not failed:
            self.check_requests(requests)
            self.check_console(console)
            self.assert_no_xss()

    def after_failure(self):
        """Subclasses: leave nothing running that would hold up the next test."""

    def cancel_unfinished(self, api):
        for b in api.all_batches(status="pending,queued,processing"):
            log(f"cancelling {b['id']} ({b['status']}) left by the failed test")
            api.raw("POST", f"/api/v1/batches/{b['id']}/cancel")

    def check_requests(self, requests):
        """Every request went to the server's own origin (or data:/blob:)."""
        origin = self.origin + "/"
        away = [r["url"] for r in requests
                if not (r["url"].startswith(origin) or r["url"].startswith(("data:", "blob:")))]
        self.assertEqual(away, [], "requests that left the server's origin")

    def check_console(self, console):
        bad = []
        for entry in console:
            if entry.get("level") != "SEVERE":
                continue
            msg = entry.get("message", "")
            m = re.match(r"(\S+) - Failed to load resource: the server responded with a status of (\d+)", msg)
            if m and entry.get("source") == "network" and any(
                    re.search(pat, m.group(1)) and int(m.group(2)) == status
                    for pat, status in self.expected_load_failures):
                continue
            bad.append(msg)
        self.assertEqual(bad, [], "SEVERE console entries (script errors, CSP violations, failed loads)")

    def assert_no_xss(self):
        ran = self.driver.execute_script(
            "return window.__xss === undefined ? null : String(window.__xss)")
        self.assertIsNone(ran, "injected markup ran: window.__xss is set")
        injected = self.driver.execute_script(
            "return document.querySelectorAll('img[src=\"x\"], img[onerror], [onerror]').length"
            " + Array.from(document.scripts).filter(s => s.textContent.includes('__xss')).length")
        self.assertEqual(injected, 0, "user text became elements (img/script) in the page")

    # ---- waits and elements ----

    def wait_until(self, fn, msg, secs=30):
        """Waits until fn() is truthy and returns it. The failure says what was
        expected (msg) and what was last seen (fn's last value or exception)."""
        state = {"last": None}

        def probe(_):
            try:
                value = fn()
            except (NoSuchElementException, StaleElementReferenceException, JavascriptException) as e:
                state["last"] = f"{type(e).__name__}: {getattr(e, 'msg', e)}"
                return False
            if not value:
                state["last"] = value if self._seen is None else self._seen
            return value

        self._seen = None
        try:
            return WebDriverWait(self.driver, timeout(secs), poll_frequency=0.1).until(probe)
        except TimeoutException:
            raise AssertionError(f"after {timeout(secs):.0f} s still waiting for: {msg}; "
                                 f"last seen: {state['last']!r}") from None

    def seen(self, value):
        """Inside a wait's fn: records what the page showed, for the failure message."""
        self._seen = value
        return value

    def q(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def qa(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """textContent (also of hidden elements), whitespace collapsed."""
        return " ".join((self.q(css).get_attribute("textContent") or "").split())

    def shown(self, css):
        els = self.qa(css)
        return bool(els) and els[0].is_displayed()

    def visible_views(self):
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll('section[id^=\"view-\"]'))"
            ".filter(s => s.getClientRects().length > 0 && getComputedStyle(s).visibility !== 'hidden')"
            ".map(s => s.id.slice(5))")

    def wait_view(self, name, secs=30):
        """Waits until `name` is the one visible view."""
        self.wait_until(lambda: self.seen(self.visible_views()) == [name],
                        f"only #view-{name} visible", secs)

    def click(self, css, secs=30):
        def ready():
            e = self.q(css)
            return e if e.is_displayed() and e.is_enabled() else None

        el = self.wait_until(ready, f"{css} visible and enabled", secs)
        el.click()
        return el

    def type_into(self, css, value):
        el = self.q(css)
        el.clear()
        el.send_keys(value)

    def set_value(self, css, value):
        """Sets a long value at once (send_keys types one key at a time) and
        tells the page with an input event, as typing would."""
        self.driver.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
            "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
            self.q(css), value)

    def select(self, css, value):
        """Picks the option whose value (its text when it has no value
        attribute) is `value`, as a user would."""
        for option in Select(self.q(css)).options:
            if option.get_property("value") == value:
                if not option.is_selected():
                    option.click()
                return
        raise AssertionError(f"{css} has no option {value!r}")

    def go(self, route):
        """Client-side navigation to a hash route (no reload)."""
        self.driver.execute_script("location.hash = arguments[0]", route)

    def session_storage(self):
        return self.driver.execute_script(
            "const o = {}; for (let i = 0; i < sessionStorage.length; i++) {"
            " const k = sessionStorage.key(i); o[k] = sessionStorage.getItem(k); } return o;")

    def local_storage(self):
        return self.driver.execute_script(
            "const o = {}; for (let i = 0; i < localStorage.length; i++) {"
            " const k = localStorage.key(i); o[k] = localStorage.getItem(k); } return o;")

    # ---- the batch page ----

    def open_batch(self, batch_id):
        self.go(f"#/batch/{batch_id}")
        self.wait_view("batch")
        self.wait_until(lambda: self.seen(self.text("#batch-id")) == batch_id,
                        f"#batch-id showing {batch_id}")

    def page_status(self):
        return status_word(self.text("#batch-status"))

    def wait_page_status(self, expected, secs=30):
        expected = (expected,) if isinstance(expected, str) else tuple(expected)

        def status():
            s = self.seen(self.page_status())
            return s if s in expected else None

        return self.wait_until(status, f"#batch-status reading one of {expected}", secs)

    def wait_api_status(self, api, batch_id, expected, secs=60):
        """Waits until the API reports the batch in one of `expected`; returns it."""
        expected = (expected,) if isinstance(expected, str) else tuple(expected)

        def get():
            b = api.batch(batch_id)
            return b if self.seen(b["status"]) in expected else None

        return self.wait_until(get, f"batch {batch_id} {'/'.join(expected)} (API)", secs)

    def confirm(self, yes=True):
        """Answers the confirmation dialog (#confirm-dialog must be open)."""
        self.wait_until(lambda: self.q("#confirm-dialog").get_attribute("open") is not None
                        and self.q("#confirm-dialog").is_displayed(),
                        "#confirm-dialog open")
        self.assertTrue(self.text("#confirm-message"), "#confirm-message says what will happen")
        self.click("#confirm-yes" if yes else "#confirm-no")
        self.wait_until(lambda: self.q("#confirm-dialog").get_attribute("open") is None,
                        "#confirm-dialog closed after the answer")

    def action_buttons(self):
        return {name: self.q(f"#batch-{name}").is_enabled() for name in ("cancel", "retry", "delete")}

    def wait_buttons(self, expected, what):
        return self.wait_until(lambda: self.seen(self.action_buttons()) == expected,
                               f"{what}: buttons enabled as {expected}")

    @staticmethod
    def buttons_for(status):
        """Which actions the contract allows in a status."""
        return {"cancel": status in ("pending", "queued", "processing"),
                "retry": status in ("failed", "cancelled"),
                "delete": status in ("pending", "completed", "failed", "cancelled")}

    def wait_buttons_match_status(self):
        """#batch-cancel/-retry/-delete enabled exactly as #batch-status allows."""
        def match():
            status, buttons = self.page_status(), self.action_buttons()
            self.seen((status, buttons))
            return status in STATUSES and buttons == self.buttons_for(status)

        self.wait_until(match, "action buttons enabled as the shown status allows")

    # ---- the batches page ----

    def page_rows(self):
        """{batch id: status text} of the rows #batches-table shows."""
        # Pairs, not an object: chromedriver returns objects with sorted keys.
        rows = self.driver.execute_script(
            "return Array.from(document.querySelectorAll('#batches-table tr[data-batch-id]'), tr => {"
            " const s = tr.querySelector('.status'); return [tr.dataset.batchId, s ? s.textContent : null]; });")
        return {k: status_word(v) for k, v in rows}

    def page_counts(self):
        """{status: count} read from #status-counts [data-status]."""
        out = {}
        for el in self.qa("#status-counts [data-status]"):
            digits = re.sub(r"[^\d]", "", el.get_attribute("textContent") or "")
            out[el.get_attribute("data-status")] = int(digits) if digits else None
        return out

    # ---- screenshots ----

    def save_screenshot(self, name, width=1280, height=800, mobile=False):
        os.makedirs(Config.screenshot_dir, exist_ok=True)
        path = os.path.join(Config.screenshot_dir, f"{name}.png")
        resized = (width, height, mobile) != (1280, 800, False)
        if resized:
            self.browser.set_viewport(width, height, mobile)
        try:
            self.wait_until(lambda: self.seen(self.driver.execute_script(
                "return [window.innerWidth, window.innerHeight]")) == [width, height],
                f"a {width}x{height} viewport")
            self.driver.save_screenshot(path)
        finally:
            if resized:
                self.browser.set_viewport(1280, 800)
        self.assertEqual(png_size(path), (width, height), f"size of {path}")
        return path


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            log(f"(while collecting failure evidence: {exc[1]!r})")
        return True
