"""The dashboard against `serve --auth keys`: the page finds out it must ask
for an API key, refuses a wrong one, signs in with a key made by
`offgridflow-batch keys create`, follows a batch live to 100 % through the
event stream read with fetch() (EventSource cannot send the key), retries a
failed batch, never shows another tenant's batches, never puts the token in
a URL or localStorage, sends the user back to sign-in when the key is
revoked, and forgets the key on sign-out.
"""

import json
import re

from dashboard_case import TERMINAL, XSS_NOTE, DashboardCase
from harness import Api, kg_in, log

ORG, WORKSPACE = "keys-org", "keys-ws"
FACTOR = {"id": "kt-grid", "activity_type": "kt_power", "scope": 2, "region": "GLOBAL", "unit": "kWh",
          "kg_co2e_per_unit": 0.25, "valid_from": "2020-01-01", "source": "keys test factor"}
COUNT = 600  # activities of the batch followed live (chunks of one: a few seconds)
LONG = 5000  # activities of the batch that holds the only worker meanwhile


class KeysModeTest(DashboardCase):
    mode = "keys"
    server_args = ("--auth", "keys", "--workers", "1", "--chunk-size", "1",
                   "--poll-interval", "1s", "--poll-jitter", "100ms")

    @classmethod
    def prepare(cls):
        cls.key = cls.create_key(ORG, WORKSPACE, "browser")
        cls.spare_key = cls.create_key(ORG, WORKSPACE, "to revoke")
        other = cls.create_key("other-org", "other-ws", "other tenant")
        cls.api = Api(cls.origin, token=cls.key["token"])
        cls.other = Api(cls.origin, token=other["token"])
        for api in (cls.api, cls.other):
            api.call("PUT", "/api/v1/emission-factors", {"factors": [FACTOR]})
            api.upsert_activities([
                {"id": f"kt-{i:04d}", "activity_type": "kt_power", "quantity": 4, "unit": "kWh",
                 "period_start": "2024-02-01", "period_end": "2024-02-29"} for i in range(COUNT)])
        cls.api.upsert_activities([
            {"id": f"kt-long-{i:05d}", "activity_type": "kt_power", "quantity": 1, "unit": "kWh",
             "period_start": "2024-02-01", "period_end": "2024-02-29"} for i in range(LONG)])
        cls.other_batch = cls.other.submit(["kt-0000"], metadata={"tenant": "other"})

    def after_failure(self):
        self.cancel_unfinished(self.api)

    @classmethod
    def create_key(cls, org, workspace, name):
        r = cls.server.cli("keys", "--data-dir", cls.server.data_dir, "create", "--org", org,
                           "--workspace", workspace, "--name", name, "--json")
        key = json.loads(r.stdout)
        assert key["token"].startswith("ogf_"), key
        assert (key["org_id"], key["workspace_id"]) == (org, workspace), key
        return key

    def check_requests(self, requests):
        super().check_requests(requests)
        for r in requests:
            for token in (self.key["token"], self.spare_key["token"]):
                self.assertNotIn(token, r["url"], "a token in a request URL")
                self.assertNotIn(token.split("_")[2], r["url"], "a key's secret in a request URL")

    def assert_token_kept_right(self, token):
        self.assertNotIn(token, json.dumps(self.local_storage()), "the token in localStorage")
        self.assertNotIn(token, self.driver.execute_script("return document.cookie"), "the token in a cookie")
        self.assertNotIn(token, self.driver.current_url)

    def sign_in(self, token):
        self.wait_view("signin")
        self.wait_until(lambda: self.shown("#signin-key"), "#signin-key shown (keys mode)")
        self.type_into("#signin-key", token)
        self.click("#signin-submit")
        self.wait_view("batches")

    # ---- 01: keys mode is recognised ----

    def test_01_asks_for_a_key(self):
        status, headers, _ = self.api.raw("GET", "/api/v1/batches?limit=1", auth=False)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers.get("WWW-Authenticate") or "", "a 401's WWW-Authenticate")
        status, _, _ = self.api.raw("GET", "/api/v1/node", auth=False)
        self.assertEqual(status, 401, "/api/v1/node needs a key")
        status, headers, body = self.api.raw("GET", "/ui/config.json", auth=False)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"auth": "keys"}, "/ui/config.json names the auth mode")
        self.driver.get(self.origin + "/ui/")
        self.wait_view("signin")
        self.wait_until(lambda: self.shown("#signin-key"), "#signin-key shown in keys mode")
        self.assertFalse(self.shown("#signin-org"), "#signin-org hidden in keys mode")
        self.assertFalse(self.shown("#signin-workspace"), "#signin-workspace hidden in keys mode")
        self.save_screenshot("signin-keys")

    # ---- 02: a wrong key is refused ----

    def test_02_wrong_key_refused(self):
        self.expected_load_failures.append((r"/api/v1/", 401))
        wrong = f"ogf_{self.key['id']}_{'0' * 64}"
        self.type_into("#signin-key", wrong)
        self.click("#signin-submit")
        self.wait_until(lambda: self.shown("#signin-error") and self.seen(self.text("#signin-error")),
                        "#signin-error shown for a wrong key")
        self.assertEqual(self.visible_views(), ["signin"])
        self.assertNotIn(wrong, json.dumps(self.session_storage()), "a refused key is not kept")
        self.assertFalse(self.shown("#nav-batches"))

    # ---- 03: sign in, follow a batch live, retry, tenant isolation ----

    def test_03_sign_in_and_follow_a_batch(self):
        token = self.key["token"]
        self.q("#signin-key").clear()
        self.sign_in(token)
        self.assertIn(token, json.dumps(self.session_storage()), "the key is kept in sessionStorage")
        self.assert_token_kept_right(token)

        # The batch waits behind a long one on the only worker, so the page
        # is open (and following it) before it starts.
        blocker = self.api.submit([f"kt-long-{i:05d}" for i in range(LONG)], metadata={"purpose": "blocker"})
        self.wait_api_status(self.api, blocker["id"], "processing")
        ids = [f"kt-{i:04d}" for i in range(COUNT)]
        b = self.api.submit(ids, metadata={"note": XSS_NOTE})
        # From the list, by the row's link.
        link = f'#batches-table tr[data-batch-id="{b["id"]}"] a'
        self.wait_until(lambda: self.qa(link), "the new batch's row in the list (3 s refresh)")
        rows = self.page_rows()
        self.assertNotIn(self.other_batch["id"], rows, "another tenant's batch in the list")
        self.q(link).click()
        self.wait_view("batch")
        self.wait_until(lambda: self.seen(self.text("#batch-id")) == b["id"], "#batch-id")
        try:
            self.wait_page_status(("pending", "queued"))
            events = f"/api/v1/batches/{b['id']}/events"
            self.wait_until(lambda: any(r["url"].endswith(events) for r in self.requests_so_far()),
                            "the page opening the batch's event stream")
        finally:
            self.api.post(f"/api/v1/batches/{blocker['id']}/cancel", expect=(200, 202, 409))
        seen = []

        def done():
            now = int(self.q("#batch-progress").get_attribute("aria-valuenow"))
            if not seen or seen[-1] != now:
                seen.append(now)
            return self.seen((now, self.page_status())) == (100, "completed")

        self.wait_until(done, "#batch-progress at 100 and #batch-status completed", 120)
        log(f"progress values seen: {seen}")
        self.assertEqual(seen, sorted(seen), "the progress bar never goes back")
        self.assertLess(seen[0], 100, "the page followed the batch from before its end")
        api = self.api.batch(b["id"])
        self.assertEqual((api["status"], api["succeeded_activities"]), ("completed", COUNT))
        kg = COUNT * 4 * FACTOR["kg_co2e_per_unit"]
        self.assertAlmostEqual(api["total_emissions_kg_co2e"], kg, places=3)
        self.assertAlmostEqual(kg_in(self.text("#batch-emissions")), kg, delta=kg * 0.005)
        rect = self.wait_until(lambda: self.qa('#scope-chart rect[data-scope="2"]'), "scope 2 bar")[0]
        self.assertGreater(float(rect.get_attribute("height")) * float(rect.get_attribute("width")), 0)
        self.assertIn(XSS_NOTE, self.q("#batch-metadata").get_attribute("textContent"))

        # The live stream was read with the key in a header, not in its URL.
        requests = self.requests_so_far()
        self.check_requests(requests)
        streams = [r for r in requests if r["url"].endswith(f"/api/v1/batches/{b['id']}/events")]
        self.assertTrue(streams, "the page opened the batch's event stream")
        for r in streams:
            auth = {k.lower(): v for k, v in r["headers"].items()}.get("authorization")
            self.assertEqual(auth, f"Bearer {token}", "the event stream request's Authorization")
        api_calls = [r for r in requests if "/api/v1/batches" in r["url"]]
        self.assertTrue(api_calls)
        for r in api_calls:
            auth = {k.lower(): v for k, v in r["headers"].items()}.get("authorization")
            self.assertEqual(auth, f"Bearer {token}", f"Authorization of {r['url']}")

        # A failed batch, retried from the page with the key.
        f = self.api.submit(["kt-0001", "kt-missing"], max_retries=0)
        self.wait_api_status(self.api, f["id"], "failed")
        self.open_batch(f["id"])
        self.wait_page_status("failed")
        self.wait_until(lambda: [r.get_attribute("data-activity-id")
                                 for r in self.qa("#failed-items tr[data-activity-id]")] == ["kt-missing"],
                        "#failed-items lists kt-missing")
        self.assertEqual(self.text('#failed-items tr[data-activity-id="kt-missing"] .error'), "activity_not_found")
        self.click("#batch-retry")
        self.confirm(yes=True)
        self.wait_until(lambda: self.seen(self.api.batch(f["id"])["retry_count"]) == 1, "retry_count 1 (API)")
        final = self.wait_api_status(self.api, f["id"], TERMINAL)
        self.wait_page_status(final["status"], 60)

        # Counts are this tenant's only.
        self.click("#nav-batches")
        self.wait_view("batches")
        counts = self.api.get("/api/v1/batch-counts")
        self.wait_until(lambda: self.seen(self.page_counts()) == counts["counts"],
                        f"#status-counts as this tenant's /batch-counts {counts['counts']}")
        self.assertEqual(counts["total"], 3, "the other tenant's batch is not counted")
        self.wait_until(lambda: set(self.seen(self.page_rows())) == {blocker["id"], b["id"], f["id"]},
                        "the list holding this tenant's three batches only")
        self.assert_token_kept_right(token)

    # ---- 04: sign-out forgets the key ----

    def test_04_sign_out(self):
        self.click("#signout")
        self.wait_view("signin")
        self.assertNotIn(self.key["token"], json.dumps(self.session_storage()), "sign-out clears the key")
        self.assertEqual(self.q("#signin-key").get_attribute("value"), "", "the key field is empty")
        self.go("#/batches")
        self.wait_view("signin")

    # ---- 05: a revoked key sends the user back to sign-in ----

    def test_05_revoked_key(self):
        self.expected_load_failures.append((r"/api/v1/", 401))
        self.sign_in(self.spare_key["token"])
        self.wait_until(lambda: self.shown("#batches-table") or self.shown("#batches-empty"), "the list loaded")
        self.server.cli("keys", "--data-dir", self.server.data_dir, "revoke", self.spare_key["id"])
        revoked = Api(self.origin, token=self.spare_key["token"])
        self.wait_until(lambda: self.seen(revoked.raw("GET", "/api/v1/batches?limit=1")[0]) == 401,
                        "the revoked key refused by the API (within 5 s)")
        # The list refreshes every 3 s: its next request is refused.
        self.wait_view("signin", 30)
        self.assertNotIn(self.spare_key["token"], json.dumps(self.session_storage()),
                         "a refused key is dropped from sessionStorage")
        self.wait_until(lambda: self.shown("#signin-error") and self.seen(self.text("#signin-error")),
                        "#signin-error says why the user is signed out")
        self.assertTrue(re.search(r"(?i)sign in|refused|not accepted|revoked", self.text("#signin-error")),
                        self.text("#signin-error"))
