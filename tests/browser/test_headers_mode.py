"""The dashboard against `serve --auth headers`: sign-in with org and
workspace, upload and submit, live progress to 100 % and the scope chart,
cancel of a running batch, retry of a failed one, delete, the batch list's
counts / filters / paging, factors, node, sign-out, the /ui/ headers, and
that user text (metadata, a factor's source) is shown and never run.

One server (one worker, chunks of one activity, so a big batch runs long
enough to be cancelled and others wait behind it) and one Chromium for the
class; the tests run in order (test_NN_) and share the signed-in tab.
"""

import csv
import html.parser
import io
import json
import os
import re

from dashboard_case import TERMINAL, XSS_NOTE, XSS_SOURCE, DashboardCase
from harness import Api, kg_in, log, numbers_in, phase

ORG, WORKSPACE = "browser-org", "browser-ws"

# The tenant's own factors (one per scope): results do not depend on the
# built-in data, and the first one's source is hostile markup.
FACTORS = [
    {"id": "bt-scope1", "activity_type": "bt_scope1", "scope": 1, "region": "GLOBAL", "unit": "L",
     "kg_co2e_per_unit": 2.5, "valid_from": "2020-01-01", "source": XSS_SOURCE},
    {"id": "bt-scope2", "activity_type": "bt_scope2", "scope": 2, "region": "GLOBAL", "unit": "kWh",
     "kg_co2e_per_unit": 0.4, "valid_from": "2020-01-01", "source": "Browser test grid factor"},
    {"id": "bt-scope3", "activity_type": "bt_scope3", "scope": 3, "region": "GLOBAL", "unit": "km",
     "kg_co2e_per_unit": 0.15, "valid_from": "2020-01-01", "source": "Browser test travel factor"},
]
# Uploaded through the page: PER_SCOPE rows of each type and these quantities.
PER_SCOPE = 300
QUANTITY = {1: 10, 2: 100, 3: 20}  # kg: 300*10*2.5=7500, 300*100*0.4=12000, 300*20*0.15=900
UNITS = {1: "L", 2: "kWh", 3: "km"}
EXPECTED_KG = {s: PER_SCOPE * QUANTITY[s] * FACTORS[s - 1]["kg_co2e_per_unit"] for s in (1, 2, 3)}
LONG = 10000  # activities of the batches that are still running when we act


def activity(aid, scope, qty):
    return {"id": aid, "activity_type": f"bt_scope{scope}", "quantity": qty, "unit": UNITS[scope],
            "region": "GLOBAL", "period_start": "2024-01-01", "period_end": "2024-01-31"}


class HeadersModeTest(DashboardCase):
    mode = "headers"
    server_args = ("--auth", "headers", "--workers", "1", "--chunk-size", "1",
                   "--poll-interval", "1s", "--poll-jitter", "100ms")

    @classmethod
    def prepare(cls):
        cls.api = Api(cls.origin, ORG, WORKSPACE)
        cls.api.call("PUT", "/api/v1/emission-factors", {"factors": FACTORS})
        cls.long_ids = [f"long-{i:05d}" for i in range(LONG)]
        cls.api.upsert_activities([activity(a, 2, 1) for a in cls.long_ids])
        cls.api.upsert_activities([activity("small-1", 1, 1), activity("small-2", 2, 1),
                                   activity("small-3", 3, 1)])

    def after_failure(self):
        self.cancel_unfinished(self.api)

    def start_long_batch(self, **fields):
        """A batch that keeps the single worker busy; returns it once processing."""
        b = self.api.submit(self.long_ids, **fields)
        return self.wait_api_status(self.api, b["id"], "processing")

    def cancel_quietly(self, batch_id):
        self.api.raw("POST", f"/api/v1/batches/{batch_id}/cancel")
        self.wait_api_status(self.api, batch_id, TERMINAL)

    def wait_api_idle(self):
        """No batch of the tenant is unfinished (the page can then be compared)."""
        self.wait_until(lambda: not self.seen([b["id"] for b in self.api.all_batches(
            status="pending,queued,processing")]), "every batch ended (API)", 90)

    # ---- 01: what the server sends for /ui/ ----

    def test_01_ui_headers(self):
        status, headers, _ = self.api.raw("GET", "/", auth=False)
        self.assertEqual(status, 302, "GET / redirects")
        self.assertEqual(headers.get("Location"), "/ui/")

        status, headers, body = self.api.raw("GET", "/ui/", auth=False)
        self.assertEqual(status, 200)
        self.check_ui_headers("/ui/", headers, "text/html")
        page = body.decode()

        # The page itself keeps to the CSP: no inline script bodies, no style
        # or on... attributes, no external URLs.
        scan = _MarkupScan()
        scan.feed(page)
        self.assertEqual(scan.inline_scripts, 0, "inline <script> bodies in index.html")
        self.assertEqual(scan.bad_attrs, [], "style= / on...= attributes in index.html")
        self.assertEqual([u for u in scan.urls if re.match(r"(?i)^(https?:)?//", u)], [],
                         "external URLs in index.html")
        assets = [u for u in scan.urls if re.fullmatch(r"[A-Za-z0-9_.-]+\.(js|css|svg|png|ico|json)", u)]
        self.assertTrue(any(a.endswith(".js") for a in assets), f"index.html loads scripts: {assets}")
        kinds = {"js": "javascript", "css": "text/css", "svg": "image/svg+xml", "png": "image/png",
                 "ico": "image/", "json": "application/json"}
        for name in sorted(set(assets)):
            status, headers, _ = self.api.raw("GET", f"/ui/{name}", auth=False)
            self.assertEqual(status, 200, f"/ui/{name}")
            self.check_ui_headers(f"/ui/{name}", headers, kinds[name.rsplit(".", 1)[1]])
        status, _, _ = self.api.raw("GET", "/ui/no-such-file.js", auth=False)
        self.assertEqual(status, 404, "/ui/no-such-file.js")
        # The sign-in page asks this file how tenants are decided.
        status, headers, body = self.api.raw("GET", "/ui/config.json", auth=False)
        self.assertEqual(status, 200, "/ui/config.json")
        self.assertEqual(json.loads(body), {"auth": "headers"}, "/ui/config.json in headers mode")
        self.assertIn("application/json", headers.get("Content-Type") or "", "/ui/config.json: Content-Type")

    def check_ui_headers(self, path, headers, content_type):
        csp = headers.get("Content-Security-Policy") or ""
        for directive in ("default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                          "form-action 'self'"):
            self.assertIn(directive, csp, f"{path}: Content-Security-Policy")
        self.assertNotIn("unsafe-inline", csp, f"{path}: CSP")
        self.assertNotIn("unsafe-eval", csp, f"{path}: CSP")
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff", f"{path}: nosniff")
        self.assertEqual(headers.get("Referrer-Policy"), "no-referrer", f"{path}: Referrer-Policy")
        self.assertEqual(headers.get("X-Frame-Options"), "DENY", f"{path}: X-Frame-Options")
        self.assertIn("no-cache", headers.get("Cache-Control") or "", f"{path}: Cache-Control")
        self.assertIn(content_type, headers.get("Content-Type") or "", f"{path}: Content-Type")
        etag = headers.get("ETag")
        self.assertTrue(etag, f"{path}: ETag")
        status, h304, body = self.api.raw("GET", path, headers={"If-None-Match": etag}, auth=False)
        self.assertEqual(status, 304, f"{path}: If-None-Match with its ETag")
        self.assertEqual(body, b"", f"{path}: a 304 has no body")
        self.assertEqual(h304.get("ETag"), etag, f"{path}: the 304 repeats the ETag")

    # ---- 02: sign-in ----

    def test_02_sign_in(self):
        self.driver.get(self.origin + "/")  # the redirect to /ui/, in the browser
        self.wait_view("signin")
        self.assertTrue(self.driver.current_url.startswith(self.origin + "/ui/"), self.driver.current_url)
        self.wait_until(lambda: self.shown("#signin-org") and self.shown("#signin-workspace"),
                        "#signin-org and #signin-workspace shown (headers mode)")
        self.assertFalse(self.shown("#signin-key"), "#signin-key hidden in headers mode")
        self.assertFalse(self.shown("#nav-batches"), "no navigation before sign-in")
        self.save_screenshot("signin")

        # A malformed org is refused on the page, nothing is stored.
        self.type_into("#signin-org", "bad org!")
        self.type_into("#signin-workspace", WORKSPACE)
        self.click("#signin-submit")
        self.wait_until(lambda: self.shown("#signin-error") and self.text("#signin-error"),
                        "#signin-error shown for org 'bad org!'")
        self.assertEqual(self.visible_views(), ["signin"])
        self.assertNotIn(WORKSPACE, str(self.session_storage()), "nothing kept after a refused sign-in")

        self.sign_in()
        self.assertEqual(self.local_storage(), {}, "localStorage stays empty")
        stored = " ".join(self.session_storage().values())
        self.assertIn(ORG, stored, "the tenant is kept in sessionStorage")
        for nav in ("#nav-batches", "#nav-upload", "#nav-factors", "#nav-node", "#signout"):
            self.assertTrue(self.shown(nav), f"{nav} shown after sign-in")
        self.wait_until(lambda: self.shown("#batches-empty"), "#batches-empty shown: no batches yet")

    def sign_in(self):
        self.wait_view("signin")
        self.type_into("#signin-org", ORG)
        self.type_into("#signin-workspace", WORKSPACE)
        self.click("#signin-submit")
        self.wait_view("batches")

    # ---- 03: upload (a bad file, then a good one), submit, watch to 100 % ----

    def test_03_upload_submit_and_watch(self):
        tmp = self.server.tmp
        self.click("#nav-upload")
        self.wait_view("upload")

        # A file whose second data row has a negative quantity: nothing is
        # written and the preview marks that row.
        bad = os.path.join(tmp, "bad.csv")
        write_csv(bad, [activity("bad-1", 1, 1), activity("bad-2", 1, -5), activity("bad-3", 1, 1)])
        self.expected_load_failures.append((r"/api/v1/activities$", 400))
        self.q("#upload-file").send_keys(bad)
        self.click("#upload-submit")
        self.wait_until(lambda: self.shown("#upload-error") and self.text("#upload-error"),
                        "#upload-error shown for a negative quantity")
        self.wait_until(lambda: self.shown("#upload-preview"), "#upload-preview shown")
        marked = [r.get_attribute("data-row") for r in self.qa("#upload-preview tr.bad-row")]
        self.assertEqual(marked, ["2"], "tr.bad-row marks data row 2 and only it")
        self.assertFalse(self.shown("#upload-result"), "no success message for a refused file")
        status, _, _ = self.api.raw("GET", "/api/v1/activities/bad-1")
        self.assertEqual(status, 404, "nothing of the refused file was written")

        # The real file: PER_SCOPE activities in each scope.
        good = os.path.join(tmp, "activities.csv")
        rows = [activity(f"up-s{s}-{i:04d}", s, QUANTITY[s]) for s in (1, 2, 3) for i in range(PER_SCOPE)]
        write_csv(good, rows)
        upload = self.q("#upload-file")
        self.driver.execute_script("arguments[0].value = ''", upload)
        upload.send_keys(good)
        with phase("upload 900 activities through the page"):
            self.click("#upload-submit")
            self.wait_until(lambda: self.shown("#upload-result") and self.text("#upload-result"),
                            "#upload-result shown")
        self.assertIn(len(rows), numbers_in(self.text("#upload-result")),
                      f"#upload-result says {len(rows)} were uploaded")
        self.assertFalse(self.shown("#upload-error"), "#upload-error hidden after a good upload")
        got = self.api.get(f"/api/v1/activities/{rows[-1]['id']}")
        self.assertEqual(got["id"], rows[-1]["id"])
        prefilled = set(re.split(r"[\s,]+", self.q("#submit-ids").get_attribute("value").strip()))
        self.assertEqual(prefilled, {r["id"] for r in rows}, "#submit-ids prefilled with the uploaded ids")
        self.save_screenshot("upload")

        # Metadata that is not a JSON object is refused on the page.
        self.set_value("#submit-metadata", "[1, 2")
        self.click("#submit-batch")
        self.wait_until(lambda: self.shown("#submit-error") and self.seen(self.text("#submit-error")),
                        "#submit-error shown for metadata that is not JSON")
        self.assertEqual(self.api.get("/api/v1/batches")["batches"], [], "no batch submitted")

        # Submit with hostile metadata, while a long batch holds the only
        # worker: the page is following the new batch before it starts.
        blocker = self.start_long_batch(metadata={"purpose": "blocker"})
        self.type_into("#submit-priority", "7")
        self.set_value("#submit-metadata", '{"note": "%s", "run": "browser"}' % XSS_NOTE)
        self.click("#submit-batch")
        link = self.wait_until(lambda: self.qa("#submit-result a[data-batch-id]"),
                               "#submit-result holding a[data-batch-id]")[0]
        batch_id = link.get_attribute("data-batch-id")
        b = self.api.batch(batch_id)
        self.assertEqual(b["total_activities"], len(rows))
        self.assertEqual(b["priority"], 7)
        self.assertEqual(b["metadata"], {"note": XSS_NOTE, "run": "browser"})
        type(self).completed_id = batch_id

        # The link opens the batch; the bar climbs to 100.
        with phase("watch the batch to 100 % in the page"):
            link.click()
            self.wait_view("batch")
            self.wait_until(lambda: self.seen(self.text("#batch-id")) == batch_id, "#batch-id")
            try:
                self.wait_page_status(("pending", "queued"))
                self.assertEqual(self.q("#batch-progress").get_attribute("aria-valuenow"), "0")
            finally:
                self.cancel_quietly(blocker["id"])
            seen = []

            def at_100():
                bar = self.q("#batch-progress")
                self.assertEqual(bar.get_attribute("role"), "progressbar")
                now = int(bar.get_attribute("aria-valuenow"))
                if not seen or seen[-1] != now:
                    seen.append(now)
                return self.seen(now) == 100 and self.page_status() == "completed"

            self.wait_until(at_100, "#batch-progress aria-valuenow 100 and #batch-status completed", 120)
        log(f"progress values seen: {seen}")
        self.assertEqual(seen, sorted(seen), "the progress bar never goes back")
        self.assertLess(seen[0], 100, "the page followed the batch from before its end")
        b = self.api.batch(batch_id)
        self.assertEqual((b["status"], b["succeeded_activities"], b["failed_activities"]),
                         ("completed", len(rows), 0))
        self.assertIn("100", self.text("#batch-percent"))
        self.assertEqual(numbers_in(self.text("#batch-counts"))[:2], [len(rows), len(rows)],
                         "#batch-counts: processed of total")
        total = sum(EXPECTED_KG.values())
        self.assertAlmostEqual(b["total_emissions_kg_co2e"], total, places=3)
        self.assertAlmostEqual(kg_in(self.text("#batch-emissions")), total, delta=total * 0.005,
                               msg="#batch-emissions")

        # The chart: one bar per scope, sized by the scope's emissions.
        def bars():
            rects = {r.get_attribute("data-scope"): r for r in self.qa("#scope-chart rect[data-scope]")}
            return rects if self.seen(sorted(rects)) == ["1", "2", "3"] else None

        rects = self.wait_until(bars, "#scope-chart with rect[data-scope=1|2|3]")
        self.assertEqual(self.q("#scope-chart").tag_name, "svg")
        heights = {int(s): float(r.get_attribute("height")) * float(r.get_attribute("width"))
                   for s, r in rects.items()}
        order = sorted(heights, key=heights.get)
        self.assertEqual(order, sorted(EXPECTED_KG, key=EXPECTED_KG.get),
                         f"bar sizes {heights} ordered as the scopes' emissions {EXPECTED_KG}")
        ratio = heights[1] / heights[2]
        self.assertAlmostEqual(ratio, EXPECTED_KG[1] / EXPECTED_KG[2], delta=0.02, msg="bar size ratio")
        labels = [t.get_attribute("textContent") for t in self.qa("#scope-chart text")]
        self.assertGreaterEqual(len(labels), 3, "a text label per bar")
        emissions = self.api.get(f"/api/v1/batches/{batch_id}/emissions")
        self.assertEqual({s["scope"]: round(s["emissions_kg_co2e"], 3) for s in emissions["scopes"]},
                         {s: round(v, 3) for s, v in EXPECTED_KG.items()}, "/emissions by scope")
        chart_text = " ".join(labels)
        for s, kg in EXPECTED_KG.items():
            shown = [kg_in(m.group(0)) for m in re.finditer(r"[\d,.]+\s*(kg|t)\b", chart_text)]
            self.assertTrue(any(abs(v - kg) <= kg * 0.005 for v in shown),
                            f"scope {s}'s {kg} kg in the chart's labels {labels}")

        # The metadata is shown as text, exactly.
        self.assertIn(XSS_NOTE, self.q("#batch-metadata").get_attribute("textContent"))
        self.assertIn("<img src=x", self.q("#batch-metadata").text, "the markup is visible as text")
        self.assertEqual(self.action_buttons(), {"cancel": False, "retry": False, "delete": True},
                         "a completed batch can only be deleted")
        self.assertEqual(self.qa("#failed-items tr[data-activity-id]"), [], "no failed items")
        self.save_screenshot("batch-detail")

    # ---- 04: cancel a running batch ----

    def test_04_cancel_running_batch(self):
        b = self.api.submit(self.long_ids, metadata={"purpose": "cancel"})
        self.open_batch(b["id"])
        self.wait_page_status("processing", 60)
        self.wait_until(lambda: 0 < self.seen(int(self.q("#batch-progress").get_attribute("aria-valuenow"))) < 100,
                        "#batch-progress between 0 and 100 while processing", 60)
        self.wait_buttons(self.buttons_for("processing"), "processing")
        self.wait_until(lambda: numbers_in(self.seen(self.text("#batch-rate"))), "#batch-rate while processing")
        self.wait_until(lambda: numbers_in(self.seen(self.text("#batch-eta"))), "#batch-eta while processing")

        # "No" keeps it running.
        self.click("#batch-cancel")
        self.confirm(yes=False)
        api = self.api.batch(b["id"])
        self.assertEqual((api["status"], api["cancel_requested"]), ("processing", False),
                         "answering no cancels nothing")

        self.click("#batch-cancel")
        self.confirm(yes=True)
        self.wait_page_status("cancelled", 30)
        api = self.wait_api_status(self.api, b["id"], "cancelled", 30)
        self.assertLess(api["processed_activities"], LONG, "it stopped before the end")
        self.assertTrue(self.shown("#action-message") and self.text("#action-message"), "#action-message")
        self.wait_buttons(self.buttons_for("cancelled"), "cancelled")
        self.wait_until(lambda: self.seen(numbers_in(self.text("#batch-counts"))[:2]) ==
                        [api["processed_activities"], LONG], "#batch-counts as the API's")

        # The list shows it cancelled.
        self.click("#nav-batches")
        self.wait_view("batches")
        self.wait_until(lambda: self.seen(self.page_rows().get(b["id"])) == "cancelled",
                        "the batch's row reads cancelled")

    # ---- 05: a failed batch, its item error, retry ----

    def test_05_retry_failed_batch(self):
        b = self.api.submit(["small-1", "no-such-activity"], max_retries=0,
                            metadata={"note": XSS_NOTE})
        self.wait_api_status(self.api, b["id"], "failed")
        self.open_batch(b["id"])
        self.wait_page_status("failed")
        self.wait_buttons(self.buttons_for("failed"), "failed")
        rows = self.wait_until(lambda: self.qa("#failed-items tr[data-activity-id]"),
                               "#failed-items rows")
        self.assertEqual([r.get_attribute("data-activity-id") for r in rows], ["no-such-activity"])
        api_items = self.api.get(f"/api/v1/batches/{b['id']}/items?status=failed")["items"]
        self.assertEqual(api_items[0]["error"], "activity_not_found")
        self.assertEqual(rows[0].find_element("css selector", ".error").text.strip(), "activity_not_found")
        self.assertIn(XSS_NOTE, self.q("#batch-metadata").get_attribute("textContent"))

        # Retry while the only worker is busy: the batch stays pending/queued
        # (the page must show that), then fails again once the worker is free.
        long_batch = self.start_long_batch(metadata={"purpose": "hold the worker"})
        try:
            self.click("#batch-retry")
            self.confirm(yes=True)
            api = self.wait_until(lambda: (lambda x: x if self.seen(x["retry_count"]) == 1 else None)(
                self.api.batch(b["id"])), "retry_count 1 after the retry (API)")
            self.assertIn(api["status"], ("pending", "queued"), "status right after retry")
            shown = self.wait_page_status(("pending", "queued"))
            self.assertIn(str(1), self.text("#action-message"), "#action-message names the retry")
            log(f"after retry the page shows {shown}")
            self.wait_buttons_match_status()
        finally:
            self.cancel_quietly(long_batch["id"])
        self.wait_page_status("failed", 60)
        api = self.api.batch(b["id"])
        self.assertEqual((api["status"], api["retry_count"], api["succeeded_activities"]), ("failed", 1, 1))
        self.wait_until(lambda: [r.get_attribute("data-activity-id")
                                 for r in self.qa("#failed-items tr[data-activity-id]")] == ["no-such-activity"],
                        "#failed-items still lists the missing activity")
        type(self).failed_id = b["id"]

    # ---- 06: delete ----

    def test_06_delete_batch(self):
        b = self.api.submit(["small-1", "small-2", "small-3"])
        self.wait_api_status(self.api, b["id"], "completed")
        # A request of the batch page still in flight may find it gone.
        self.expected_load_failures.append((rf"/api/v1/batches/{b['id']}(/|$)", 404))
        self.open_batch(b["id"])
        self.wait_page_status("completed")
        self.click("#batch-delete")
        self.confirm(yes=True)
        self.wait_until(lambda: self.seen(self.api.raw("GET", f"/api/v1/batches/{b['id']}")[0]) == 404,
                        "GET of the deleted batch answers 404")
        # The page goes back to the list (or says so); the row is gone.
        self.go("#/batches")
        self.wait_view("batches")
        self.wait_until(lambda: (lambda rows: rows and b["id"] not in rows)(self.seen(self.page_rows())),
                        "the list without the deleted batch")

    # ---- 07: the list: counts, statuses, filters, paging ----

    def test_07_batches_view(self):
        with phase("submit 20 one-activity batches"):
            for i in range(20):
                self.api.submit([f"small-{i % 3 + 1}"], priority=9 if i % 4 == 0 else 3)
        self.wait_api_idle()
        everything = self.api.all_batches()
        self.assertGreater(len(everything), 20, "more batches than one page of 20")
        api_status = {b["id"]: b["status"] for b in everything}
        counts = self.api.get("/api/v1/batch-counts")
        self.assertEqual(counts["total"], len(everything), "/batch-counts total")

        self.go("#/upload")  # and back: a fresh list, without the last view's notices
        self.wait_view("upload")
        self.click("#nav-batches")
        self.wait_view("batches")
        self.select("#filter-status", "")
        self.select("#filter-priority", "")
        self.wait_until(lambda: self.seen(self.page_counts()) == counts["counts"],
                        f"#status-counts as /batch-counts {counts['counts']}")
        first = self.wait_until(lambda: (lambda r: r if len(r) == 20 else None)(self.seen(self.page_rows())),
                                "a first page of 20 rows")
        newest = [b["id"] for b in everything[:20]]
        self.assertEqual(list(first), newest, "page 1 = the 20 newest batches, newest first")
        self.assertEqual(first, {i: api_status[i] for i in newest}, "each row's status as the API's")
        self.save_screenshot("batches")
        self.save_screenshot("batches-phone", 390, 844, mobile=True)

        self.click("#page-next")
        rest = {b["id"]: b["status"] for b in everything[20:40]}
        self.wait_until(lambda: self.seen(self.page_rows()) == rest, "page 2 = the remaining batches")
        self.click("#page-prev")
        self.wait_until(lambda: list(self.seen(self.page_rows())) == newest, "back on page 1")

        # Status filter, as the API filters.
        for status in ("failed", "cancelled", "completed"):
            self.select("#filter-status", status)
            want = {b["id"]: status for b in self.api.all_batches(status=status)[:20]}
            self.assertTrue(want, f"there are {status} batches")
            self.wait_until(lambda: self.seen(self.page_rows()) == want, f"the {status} batches only")
        self.select("#filter-status", "processing")
        self.wait_until(lambda: self.shown("#batches-empty") and not self.page_rows(),
                        "#batches-empty shown and no rows for status processing")
        self.select("#filter-status", "")
        self.select("#filter-priority", "9")
        want = {b["id"]: b["status"] for b in self.api.all_batches(priority=9)}
        self.assertEqual(len(want), 5)
        self.wait_until(lambda: self.seen(self.page_rows()) == want, "the priority 9 batches only")
        self.select("#filter-priority", "")

        # A row links to its batch.
        target = everything[0]["id"]
        self.wait_until(lambda: self.qa(f'#batches-table tr[data-batch-id="{target}"] a'), "row link")
        self.q(f'#batches-table tr[data-batch-id="{target}"] a').click()
        self.wait_view("batch")
        self.assertTrue(self.driver.current_url.endswith(f"#/batch/{target}"), self.driver.current_url)
        self.wait_until(lambda: self.seen(self.text("#batch-id")) == target, "#batch-id of the clicked row")

    # ---- 08: factors ----

    def test_08_factors_view(self):
        self.click("#nav-factors")
        self.wait_view("factors")
        factors = self.api.get("/api/v1/emission-factors")["factors"]

        def all_rows():
            rows = self.qa("#factors-table tr[data-factor-id]")
            return rows if self.seen(len(rows)) == len(factors) else None

        rows = self.wait_until(all_rows, f"{len(factors)} rows in #factors-table, as GET /emission-factors")
        kinds = self.driver.execute_script(
            "const o = {}; for (const tr of document.querySelectorAll('#factors-table tr[data-factor-id]'))"
            " o[tr.dataset.factorId + '|' + tr.querySelector('.builtin').textContent.trim()] ="
            " tr.querySelector('.source').textContent; return o;")
        for f in factors:
            kind = "built-in" if f["builtin"] else "own"
            key = f"{f['id']}|{kind}"
            self.assertIn(key, kinds, f"factor {f['id']} shown as {kind}")
            self.assertEqual(kinds[key].strip(), f["source"].strip(), f"source of {f['id']}")
        self.assertEqual(len(rows), len(factors))
        self.assertIn("<script>window.__xss=1</script>", self.q("#factors-table").text,
                      "the hostile source is visible as text")
        self.save_screenshot("factors")

        def shown_ids():
            return sorted(self.seen(self.driver.execute_script(
                "return Array.from(document.querySelectorAll('#factors-table tr[data-factor-id]'))"
                ".filter(r => r.getClientRects().length > 0).map(r => r.dataset.factorId)")))

        self.type_into("#factors-filter", "bt_scope2")
        self.wait_until(lambda: shown_ids() == ["bt-scope2"], "only bt-scope2 after filtering on bt_scope2")
        self.type_into("#factors-filter", "electricity")
        want = sorted(f["id"] for f in factors if f["activity_type"] == "electricity")
        self.wait_until(lambda: shown_ids() == want, f"the electricity factors {want}")

    # ---- 09: node ----

    def test_09_node_view(self):
        # On a loaded machine one health probe may miss its deadline: the
        # node then answers 503 with its report, which the view shows.
        self.expected_load_failures.append((r"/api/v1/node$", 503))
        self.click("#nav-node")
        self.wait_view("node")
        self.wait_until(lambda: self.seen(self.text("#node-status")) == "ok", "#node-status ok")
        node = self.api.get("/api/v1/node")
        self.assertEqual(node["scheduler"]["workers"], 1)
        self.wait_until(lambda: (lambda n: len(n) >= 2 and n[1] == 1)(self.seen(numbers_in(self.text("#node-workers")))),
                        "#node-workers reading busy / 1")
        self.assertIn("/", self.text("#node-workers"))
        self.assertTrue(numbers_in(self.text("#node-queue")), "#node-queue shows a number")
        self.assertTrue(numbers_in(self.text("#node-throughput")), "#node-throughput shows a number")
        self.assertIn("ok", self.text("#node-database").lower())
        self.wait_until(lambda: self.seen(len(self.qa("#throughput-chart rect"))) == len(node["throughput"]["buckets"]),
                        "#throughput-chart with one rect per bucket (60)")
        self.assertEqual(len(node["throughput"]["buckets"]), 60)
        tallest = self.driver.execute_script(
            "return Math.max(...Array.from(document.querySelectorAll('#throughput-chart rect'),"
            " r => parseFloat(r.getAttribute('height')) || 0))")
        self.assertGreater(tallest, 0, "activities finished in the last 10 minutes show as bars")
        self.save_screenshot("node")

        # It refreshes by itself (every 5 s): a long batch makes the worker busy.
        long_batch = self.start_long_batch(metadata={"purpose": "busy worker"})
        try:
            self.wait_until(lambda: self.seen(numbers_in(self.text("#node-workers")))[:2] == [1, 1],
                            "#node-workers reading 1 / 1 while a batch runs", 30)
        finally:
            self.cancel_quietly(long_batch["id"])
        self.wait_until(lambda: self.seen(numbers_in(self.text("#node-workers")))[:2] == [0, 1],
                        "#node-workers back to 0 / 1", 30)

    # ---- 10: sign-out ----

    def test_10_sign_out(self):
        self.click("#signout")
        self.wait_view("signin")
        stored = str(self.session_storage())
        self.assertNotIn(ORG, stored, "sign-out clears the credentials from sessionStorage")
        self.assertNotIn(WORKSPACE, stored, "sign-out clears the credentials from sessionStorage")
        self.assertFalse(self.shown("#nav-batches"))
        self.go("#/batches")
        self.wait_view("signin")  # still signed out

    # ---- 11: the page's own CSV reader and number formats, in the browser ----

    def test_11_parsers_in_the_page(self):
        # The upload preview counts rows as the server does; Python's csv
        # module (RFC 4180 too) is the reference. Blank lines and a byte
        # order mark are skipped by both the page and the server.
        samples = [
            "id,quantity\r\na,1\r\nb,2",
            'id,note\n"x, y","say ""hi"""\n',
            'id,note\n"two\nlines",z\n\n\nlast,""',
            "\ufeffid,q\nbom,3\n",
            'a,b\n"",\n,""\n',
        ]
        got = self.driver.execute_async_script(
            "const samples = arguments[0], done = arguments[arguments.length - 1];"
            "const at = (name) => new URL(name, document.baseURI).href;"
            "Promise.all([import(at('csv.js')), import(at('format.js'))]).then(([csv, f]) => done({"
            " csv: samples.map((t) => csv.parseCsv(t)),"
            " sameUnit: [f.co2eAs(500, 2000), f.co2eAs(2500, 2500), f.co2eAs(500, 900), f.co2eAs(0, 2000)],"
            " single: [f.co2e(999), f.co2e(1500), f.co2e(0.25)],"
            " durations: [f.duration(45), f.duration(65), f.duration(7380), f.duration(-1)],"
            "}), (e) => done({error: String(e)}));", samples)
        self.assertNotIn("error", got, got.get("error"))
        for text, rows in zip(samples, got["csv"]):
            want = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")) if r]
            self.assertEqual(rows, want, f"parseCsv({text!r})")
        # Bars side by side share the unit chosen for the largest.
        units = [s.rsplit(" ", 2)[1] for s in got["sameUnit"]]
        self.assertEqual(units, ["t", "t", "kg", "t"], got["sameUnit"])
        self.assertAlmostEqual(kg_in(got["sameUnit"][0]), 500, places=3)
        self.assertAlmostEqual(kg_in(got["sameUnit"][1]), 2500, places=3)
        self.assertAlmostEqual(kg_in(got["sameUnit"][2]), 500, places=3)
        self.assertEqual([s.rsplit(" ", 2)[1] for s in got["single"]], ["kg", "t", "kg"], got["single"])
        self.assertEqual([kg_in(s) for s in got["single"]], [999, 1500, 0.25], got["single"])
        self.assertEqual(got["durations"], ["45s", "1m 05s", "2h 03m", "–"])


def write_csv(path, rows):
    cols = ["id", "activity_type", "quantity", "unit", "region", "period_start", "period_end"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in cols})


class _MarkupScan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_scripts = 0
        self.bad_attrs = []
        self.urls = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.bad_attrs.append(f"<{tag} {name}>")
            if name in ("src", "href") and value and not value.startswith("#"):
                self.urls.append(value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1
