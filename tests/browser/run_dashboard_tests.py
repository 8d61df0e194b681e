#!/usr/bin/env python3
"""Runs the dashboard's browser tests: headless Chromium (Selenium) against a
real `offgridflow-batch serve` on its own embedded database.

  run_dashboard_tests.py --server-binary build/offgridflow-batch [--mode headers|keys|all]
                         [--ui-dir ui/] [--screenshots DIR] [-k PATTERN] [--keep-temp]

Without --ui-dir the server serves the UI compiled into it (as in ctest);
with it, the files of that folder (`serve --ui-dir`), for UI work.
Each flag also reads OGF_BROWSER_<FLAG> from the environment
(OGF_BROWSER_SERVER_BINARY, OGF_BROWSER_UI_DIR, OGF_BROWSER_SCREENSHOTS,
OGF_BROWSER_TIMEOUT_SCALE to lengthen every wait on a slow machine).

Exit: 0 passed, 1 failed, 2 usage, 77 skipped because Chromium, chromedriver
or Python's selenium is not installed (scripts/setup installs them).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server-binary", default=env("OGF_BROWSER_SERVER_BINARY"))
    p.add_argument("--ui-dir", default=env("OGF_BROWSER_UI_DIR"),
                   help="serve the UI from this folder instead of the binary")
    p.add_argument("--screenshots", default=env("OGF_BROWSER_SCREENSHOTS"),
                   help="where the PNGs go (default ./dashboard-screenshots)")
    p.add_argument("--mode", choices=("headers", "keys", "all"), default="all")
    p.add_argument("--timeout-scale", type=float,
                   default=float(env("OGF_BROWSER_TIMEOUT_SCALE") or 1.0))
    p.add_argument("--budget", type=int, default=260,
                   help="seconds before the run stops itself (ctest's TIMEOUT is 300)")
    p.add_argument("-k", dest="pattern", action="append",
                   help="only tests whose name contains this (repeatable)")
    p.add_argument("--keep-temp", action="store_true", help="keep the server's folder")
    args = p.parse_args()

    sys.path.insert(0, HERE)
    import harness

    if not harness.python_has_selenium():
        harness.reexec_with_system_python()
        print("SKIP: Python's selenium is not installed (Debian: python3-selenium; scripts/setup)")
        return SKIP
    for what in ("chromium", "chromedriver"):
        path = env(f"OGF_BROWSER_{what.upper()}") or getattr(harness.Config, what)
        if not os.access(path, os.X_OK):
            print(f"SKIP: {path} is not installed (Debian: chromium chromium-driver; scripts/setup)")
            return SKIP
        setattr(harness.Config, what, path)
    if not args.server_binary or not os.access(args.server_binary, os.X_OK):
        print(f"error: --server-binary {args.server_binary!r} is not an executable", file=sys.stderr)
        return 2
    if args.ui_dir and not os.path.isfile(os.path.join(args.ui_dir, "index.html")):
        print(f"error: --ui-dir {args.ui_dir!r} has no index.html", file=sys.stderr)
        return 2

    harness.Config.run_dir = tempfile.mkdtemp(prefix="ogf-browser-")
    os.chmod(harness.Config.run_dir, 0o755)  # the embedded postgres runs as its own user
    harness.start_reaper(harness.Config.run_dir, remove=not args.keep_temp)
    harness.Config.server_binary = os.path.abspath(args.server_binary)
    harness.Config.ui_dir = os.path.abspath(args.ui_dir) if args.ui_dir else None
    harness.Config.screenshot_dir = os.path.abspath(args.screenshots or "dashboard-screenshots")
    harness.Config.timeout_scale = args.timeout_scale
    harness.Config.keep_temp = args.keep_temp
    harness.log(f"server {harness.Config.server_binary}, UI "
                f"{harness.Config.ui_dir or 'compiled into the binary'}, screenshots in "
                f"{harness.Config.screenshot_dir}")

    modules = {"headers": ["test_headers_mode"], "keys": ["test_keys_mode"]}
    names = modules[args.mode] if args.mode != "all" else modules["headers"] + modules["keys"]
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = [f"*{pat}*" for pat in args.pattern]
    suite = unittest.TestSuite(loader.loadTestsFromName(n) for n in names)

    harness.install_alarm(args.budget)
    started = time.monotonic()
    try:
        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    finally:
        harness.stop_everything()
        if not args.keep_temp:
            shutil.rmtree(harness.Config.run_dir, ignore_errors=True)
    took = time.monotonic() - started
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = max(0, result.testsRun - failed - len(result.skipped))
    harness.log(f"timing: browser tests ({args.mode}) total: {took:.1f} s")
    print(f"browser: {passed} passed, {failed} failed, {len(result.skipped)} skipped", flush=True)
    if result.testsRun == 0:
        print("error: no test ran", file=sys.stderr)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
