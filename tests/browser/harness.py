"""Shared machinery of the dashboard's browser tests.

A real `offgridflow-batch serve` on its own embedded PostgreSQL (a fresh
temporary folder), a small urllib client of its API, and headless Chromium
driven by Selenium with the performance and console logs on. Everything
started here is stopped here: the server by SIGTERM (then SIGKILL), and, as
a last resort, any process whose command line names this run's temporary
folder (the embedded postgres, chromium's profile), by its pid.
"""

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


class Config:
    """Filled in by run_dashboard_tests.py from its flags and environment."""

    run_dir = None  # every temporary folder of this run is inside it
    server_binary = None
    ui_dir = None  # None: the UI compiled into the binary
    screenshot_dir = None
    timeout_scale = 1.0
    keep_temp = False
    chromium = "/usr/bin/chromium"
    chromedriver = "/usr/bin/chromedriver"


def timeout(seconds):
    """A wait's limit, scaled by OGF_BROWSER_TIMEOUT_SCALE on slow machines."""
    return seconds * Config.timeout_scale


_START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - _START:7.2f}s] {msg}", flush=True)


@contextlib.contextmanager
def phase(name):
    """Prints how long a phase took, so CI's output shows where time goes."""
    t = time.monotonic()
    log(f"{name} ...")
    ok = False
    try:
        yield
        ok = True
    finally:
        log(f"timing: {name}: {time.monotonic() - t:.2f} s{'' if ok else ' (failed)'}")


def _die_with_parent(sig):
    """preexec_fn: the child gets `sig` when this process dies, however."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1

    def fn():
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return fn


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pids_naming(text):
    """Pids of processes whose command line contains `text`, this one excepted."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry))
    return found


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class ApiError(AssertionError):
    pass


class Api:
    """A urllib client of one server, acting for one tenant (headers or key)."""

    def __init__(self, origin, org=None, workspace=None, token=None):
        self.origin = origin
        self.auth = {}
        if token:
            self.auth["Authorization"] = f"Bearer {token}"
        elif org:
            self.auth["X-Org-ID"] = org
            self.auth["X-Workspace-ID"] = workspace

    def raw(self, method, path, body=None, content_type=None, headers=None, auth=True):
        """(status, headers, bytes); never raises on an HTTP status."""
        h = dict(self.auth) if auth else {}
        h.update(headers or {})
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                content_type = content_type or "application/json"
            else:
                data = body.encode() if isinstance(body, str) else body
            h["Content-Type"] = content_type
        req = urllib.request.Request(self.origin + path, data=data, headers=h, method=method)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=timeout(30)) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def call(self, method, path, body=None, content_type=None, expect=(200, 201, 202, 204)):
        status, _, data = self.raw(method, path, body, content_type)
        if status not in expect:
            raise ApiError(f"{method} {path}: expected {expect}, got {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def batch(self, batch_id):
        return self.get(f"/api/v1/batches/{batch_id}")

    def submit(self, ids, **fields):
        return self.post("/api/v1/batches", {"activity_ids": list(ids), **fields})

    def upsert_activities(self, activities):
        for i in range(0, len(activities), 10000):
            self.post("/api/v1/activities", {"activities": activities[i:i + 10000]})

    def all_batches(self, **query):
        out, token = [], None
        while True:
            q = dict(query, limit=100)
            if token:
                q["page_token"] = token
            qs = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in q.items())
            page = self.get(f"/api/v1/batches?{qs}")
            out += page["batches"]
            token = page.get("next_page_token")
            if not token:
                return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Server:
    """`offgridflow-batch serve` on a fresh embedded database and a free port."""

    def __init__(self, name, extra_args=()):
        self.name = name
        self.extra_args = list(extra_args)
        self.proc = None
        self.tmp = None
        self.origin = None
        self.attempts = 0

    @property
    def data_dir(self):
        return os.path.join(self.tmp, "data")

    def start(self):
        self.launch()
        return self.wait_ready()

    def launch(self):
        """Starts the process (without waiting for it: see wait_ready)."""
        if self.tmp is None:
            self.tmp = tempfile.mkdtemp(prefix=f"{self.name}-", dir=Config.run_dir)
            # The embedded PostgreSQL runs as the postgres user when we are
            # root: it must be able to traverse this folder.
            os.chmod(self.tmp, 0o755)
        self.attempts += 1
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        # A node id of our own: health must come from this process, not from
        # another server that took the port first.
        self.node_id = f"browser-{self.name}-{os.getpid()}-{self.attempts}"
        argv = [Config.server_binary, "serve", "--data-dir", self.data_dir,
                "--listen", f"127.0.0.1:{port}", "--shutdown-timeout", "15s",
                "--node-id", self.node_id, *self.extra_args]
        if Config.ui_dir:
            argv += ["--ui-dir", Config.ui_dir]
        # OGF_* variables of the caller (a CI's database URL, say) must not
        # change this server: it is configured by its flags only.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OGF_")}
        self.log_path = os.path.join(self.tmp, f"serve-{self.attempts}.log")
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
                preexec_fn=_die_with_parent(signal.SIGTERM))
        if self not in LIVE:
            LIVE.append(self)
        log(f"serve ({self.name}) pid {self.proc.pid}: {' '.join(argv[1:])}")

    def wait_ready(self):
        """Waits for GET /api/v1/health 200 from this process (another port
        if the one picked was taken meanwhile)."""
        while True:
            if self._wait_healthy():
                return self
            if self.attempts >= 3 or "address already in use" not in self.log_tail().lower():
                raise AssertionError(f"serve ({self.name}) did not become healthy:\n{self.log_tail()}")
            self._stop_process()
            self.launch()

    def _wait_healthy(self):
        deadline = time.monotonic() + timeout(60)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(self.origin + "/api/v1/health", timeout=2) as r:
                    if r.status == 200 and json.loads(r.read()).get("node_id") == self.node_id:
                        return True
            time.sleep(0.1)  # polling interval, not a correctness wait
        return False

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, AttributeError):
            return "(no log)"

    def cli(self, *args, check=True):
        """Runs the binary (e.g. `keys create`) against this server's data dir."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OGF_")}
        r = subprocess.run([Config.server_binary, *args], env=env, capture_output=True,
                           text=True, timeout=timeout(60), stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{args} exited {r.returncode}: {r.stderr}")
        return r

    def _stop_process(self):
        """SIGTERM, then SIGKILL; returns the exit code (None if it had to be killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"serve ({self.name}) ignored SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        """Stops the server (and anything left of it); returns its exit code."""
        code = None
        if self in LIVE:
            LIVE.remove(self)
        try:
            code = self._stop_process()
            log(f"serve ({self.name}) exited with {code}")
        finally:
            if self.tmp:
                self.reap_leftovers()
                if Config.keep_temp:
                    log(f"kept {self.tmp}")
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
        return code

    def reap_leftovers(self):
        """Kills, by pid, whatever still runs out of this server's folder."""
        pids = pids_naming(self.tmp)
        if pids:
            log(f"killing leftover processes of {self.tmp}: {pids}")
            kill_pids(pids)
            deadline = time.monotonic() + 10
            while pids_naming(self.tmp) and time.monotonic() < deadline:
                time.sleep(0.1)


def start_reaper(run_dir, remove=True):
    """A detached process that outlives this one only to clean up after it:
    when this process is gone (even by SIGKILL, as on a ctest timeout) it
    kills, by pid, whatever still runs out of run_dir (Chromium, postgres)
    and removes the folder. After a normal end it finds nothing to do."""
    r, w = os.pipe()  # this process holds w; its children do not inherit it
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.close(w)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # ctest must not wait for this process's output
                os.dup2(null, fd)
            while os.read(r, 1):
                pass
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pids = pids_naming(run_dir)
                if not pids:
                    break
                kill_pids(pids)
                time.sleep(0.2)
            if remove:
                shutil.rmtree(run_dir, ignore_errors=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    os.close(r)
    return w


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def numbers_in(text):
    """All numbers in a text formatted in en-US ("12,345.6" -> 12345.6)."""
    return [float(m.replace(",", "")) for m in NUMBER.findall(text or "")]


def kg_in(text):
    """The kg CO2e a text shows: "1,234.5 kg CO2e" or "12.3 t CO2e"."""
    m = re.search(r"(-?\d[\d,]*(?:\.\d+)?)\s*(kg|t)\b", text or "")
    if not m:
        raise AssertionError(f"no emissions value in {text!r}")
    value = float(m.group(1).replace(",", ""))
    return value * 1000 if m.group(2) == "t" else value


# Servers and browsers still running: stopped by stop_everything() whatever
# way the run ends (an interrupt skips unittest's tearDownClass).
LIVE = []
OUT_OF_TIME = []


def stop_everything():
    while LIVE:
        thing = LIVE.pop()
        with contextlib.suppress(BaseException):
            (thing.quit if isinstance(thing, Browser) else thing.stop)()


def install_alarm(seconds):
    """The whole run stops itself (and cleans up) before ctest's TIMEOUT kills it."""

    def on_alarm(signum, frame):
        OUT_OF_TIME.append(True)
        raise TimeoutError(f"the browser tests ran over their {seconds} s budget")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def python_has_selenium():
    import importlib.util
    return importlib.util.find_spec("selenium") is not None


def reexec_with_system_python():
    """A pyenv/venv python3 first on PATH lacks Debian's python3-selenium."""
    system = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system):
        os.execv(system, [system, *sys.argv])


class Browser:
    """Headless Chromium with the performance (network) and console logs on."""

    def __init__(self, profile_dir):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = Config.chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--lang=en-US", "--window-size=1280,800",
                    "--no-first-run", "--no-default-browser-check",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-extensions", "--disable-features=Translate,MediaRouter,OptimizationHints",
                    "--disable-domain-reliability", "--metrics-recording-only",
                    "--disable-breakpad", "--disable-crash-reporter",
                    f"--user-data-dir={profile_dir}"):
            opts.add_argument(arg)
        opts.add_experimental_option("prefs", {"intl.accept_languages": "en-US"})
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        os.makedirs(profile_dir, exist_ok=True)
        service = Service(Config.chromedriver, log_path=os.path.join(os.path.dirname(profile_dir), "chromedriver.log"),
                          popen_kw={"preexec_fn": _die_with_parent(signal.SIGKILL)})
        self.driver = webdriver.Chrome(service=service, options=opts)
        LIVE.append(self)
        self.driver.set_page_load_timeout(timeout(60))
        self.driver.set_script_timeout(timeout(30))
        self.requests = []  # every Network.requestWillBeSent: {url, method, headers}
        self.responses = {}  # requestId -> status
        self.console = []  # every console entry
        self.set_viewport(1280, 800)
        # Chromium's own start-up traffic (its new-tab page) is not the
        # dashboard's: start from a blank page and drop what came before.
        self.driver.get("about:blank")
        self.driver.get_log("performance")
        self.driver.get_log("browser")

    def set_viewport(self, width, height, mobile=False):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def drain_logs(self):
        """Moves the browser's pending log entries into self.requests/console."""
        new_requests, new_console = [], []
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg.get("method") == "Network.requestWillBeSent":
                req = params.get("request", {})
                new_requests.append({"id": params.get("requestId"), "url": req.get("url", ""),
                                     "method": req.get("method"), "headers": req.get("headers", {})})
            elif msg.get("method") == "Network.responseReceived":
                self.responses[params.get("requestId")] = params.get("response", {}).get("status")
        for entry in self.driver.get_log("browser"):
            new_console.append(entry)
        self.requests += new_requests
        self.console += new_console
        return new_requests, new_console

    def quit(self):
        if self in LIVE:
            LIVE.remove(self)
        with contextlib.suppress(Exception):
            self.driver.quit()
