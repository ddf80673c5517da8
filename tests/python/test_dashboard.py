"""`lutnas dashboard` against a real lutnasd, in a real browser.

The pytest part runs under /usr/bin/python3 like every test here: it starts
lutnasd (conftest's module daemon), makes a finished search and a running
EXTERNAL one (it moves only when scores are told, so "progress moves" needs
no timing), and starts the dashboard with .venv/bin/python (Flask and plotly
live in the venv, scripts/requirements-venv.txt). The browser part is this
same file run by .venv/bin/python (Selenium there), driving Debian's headless
chromium through chromium-driver: it watches the running job's progress move
after it tells scores, clicks a Pareto point, reads the candidate's block
breakdown against the daemon's, downloads the ONNX file and runs it with
ONNX Runtime. Every wait is explicit with a generous timeout; nothing
asserts on time.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / os.environ.get("LUTNAS_VENV", ".venv") / "bin" / "python"
FINISHED_HW = "dash-npu"  # has a table: measured latencies
SPEC_HW = "dash-spec"  # published peaks only: every latency estimated
WAIT_S = 120  # explicit waits: generous, the host is noisy


# ====================================================================== pytest part
if __name__ != "__main__":
    import pytest

    sys.path.insert(0, str(ROOT / "clients" / "python"))
    from conftest import finish, hardware_with_table, spec_hardware, wait_for  # noqa: E402

    import lutnas  # noqa: E402
    from lutnas.dashboard import _data  # noqa: E402  (no Flask needed)

    def _venv_has(*modules):
        if not VENV_PY.exists():
            return False
        code = "import " + ", ".join(modules)
        return subprocess.run([str(VENV_PY), "-c", code], capture_output=True).returncode == 0

    def _browser_missing():
        missing = [t for t in ("chromium", "chromedriver") if shutil.which(t) is None]
        if missing:
            return (f"{' and '.join(missing)} missing "
                    "(scripts/bootstrap installs chromium, chromium-driver)")
        if not _venv_has("flask", "plotly", "selenium", "onnxruntime", "torch"):
            return ".venv lacks flask/plotly/selenium/onnxruntime (run scripts/bootstrap)"
        return ""

    class Dashboard:
        """`lutnas dashboard --port 0` in .venv/bin/python; url from its first line."""

        def __init__(self, server, workdir):
            self.log = Path(workdir) / "dashboard.log"
            env = dict(os.environ, PYTHONPATH=str(ROOT / "clients" / "python"))
            self.proc = subprocess.Popen(
                [str(VENV_PY), "-m", "lutnas", "--server", server, "dashboard", "--port", "0"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines = []
            reader = threading.Thread(target=lambda: lines.append(self.proc.stdout.readline()),
                                      daemon=True)
            reader.start()
            reader.join(WAIT_S)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", lines[0] if lines else "")
            if not m:
                self.stop()
                pytest.fail(f"dashboard printed no URL: {lines!r}")
            self.url = m.group(1)
            # Keep draining its log so the pipe never fills.
            threading.Thread(target=self._drain, daemon=True).start()

        def _drain(self):
            with open(self.log, "a") as f:
                for line in self.proc.stdout:
                    f.write(line)

        def stop(self):
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def _get(url, headers=None, method="GET"):
        """(status, body text) of one HTTP request."""
        req = urllib.request.Request(url, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=WAIT_S) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    @pytest.fixture(scope="module")
    def jobs(module_client):
        """(finished job id, running EXTERNAL job id) on the module daemon."""
        c = module_client
        hardware_with_table(c, FINISHED_HW, scale=0.01)
        c.register_hardware(spec_hardware(SPEC_HW))
        finished = c.submit({"name": "dash-finished", "space": "tiny", "algorithm": "NSGA2",
                             "objective": "PARAMS", "population": 16, "generations": 4,
                             "seed": 11, "allow_spec_budgets": True,
                             "budgets": [{"hardware": FINISHED_HW, "max_ms": 0.9},
                                         {"hardware": SPEC_HW, "max_ms": 0.08}]})
        _, final = finish(c, finished.id)
        assert final.state.label == "succeeded", final.error
        running = c.submit({"name": "dash-running", "space": "tiny", "algorithm": "EVOLUTION",
                            "objective": "EXTERNAL", "population": 4, "sample_size": 2,
                            "generations": 3, "seed": 5,
                            "budgets": [{"hardware": FINISHED_HW, "max_ms": 5.0}]})
        wait_for(lambda: c.get_job(running.id).state.label == "running", timeout=WAIT_S,
                 what="the EXTERNAL job to start")
        yield finished.id, running.id
        try:
            c.cancel(running.id)
        except lutnas.FailedPrecondition:
            pass

    @pytest.fixture(scope="module")
    def dashboard(module_daemon, jobs, tmp_path_factory):
        why = _browser_missing()
        if why:
            pytest.skip(why)
        d = Dashboard(module_daemon.target, tmp_path_factory.mktemp("dashboard"))
        yield d
        d.stop()

    def test_in_a_browser(dashboard, module_daemon, jobs, tmp_path):
        """Progress moves, a Pareto point opens its candidate, the breakdown
        matches the daemon's, the ONNX download runs (see browser_main)."""
        finished, running = jobs
        argv = [str(VENV_PY), __file__, dashboard.url, module_daemon.target, str(finished),
                str(running), str(tmp_path)]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "clients" / "python"))
        r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=15 * WAIT_S)
        log = dashboard.log.read_text() if dashboard.log.exists() else ""
        assert r.returncode == 0, (f"browser part failed:\n{r.stdout}\n{r.stderr}\n"
                                   f"dashboard log:\n{log[-3000:]}")
        assert "browser: all checks passed" in r.stdout, r.stdout
        print(r.stdout)  # the steps, for pytest -s

    def test_unknown_job_and_candidate_are_clear_404_pages(dashboard):
        status, body = _get(dashboard.url + "/jobs/987654")
        assert status == 404
        assert "Job 987654 does not exist" in body and 'href="/jobs"' in body
        status, body = _get(dashboard.url + "/candidates/987654")
        assert status == 404 and "Candidate 987654 does not exist" in body
        status, body = _get(dashboard.url + "/api/jobs/987654")
        assert status == 404 and "does not exist" in json.loads(body)["error"]

    def test_cancel_is_offered_only_where_the_daemon_takes_it(dashboard, jobs):
        finished, running = jobs
        status, body = _get(f"{dashboard.url}/api/jobs/{finished}")
        assert status == 200 and json.loads(body)["cancellable"] is False
        status, body = _get(f"{dashboard.url}/jobs/{finished}")
        hidden = r'<button type="button" class="cancel" data-job="%d" hidden>' % finished
        assert re.search(hidden, body)
        status, body = _get(f"{dashboard.url}/api/jobs/{running}")
        assert json.loads(body)["cancellable"] is True
        # A page of another origin cannot cancel: the custom header is required.
        status, _ = _get(f"{dashboard.url}/api/jobs/{running}/cancel", method="POST")
        assert status == 403
        # The daemon refuses to cancel a finished job: 409 with its state, nothing changed.
        status, body = _get(f"{dashboard.url}/api/jobs/{finished}/cancel", method="POST",
                            headers={"X-Lutnas-Dashboard": "1"})
        assert status == 409 and json.loads(body)["job"]["state"] == "succeeded"

    def test_hardware_page_shows_the_validation_beside_macs(dashboard, module_client):
        """A table's stored validation (leave-one-out share within +-10%, Kendall
        tau of the table beside MACs', failed checks) is on the hardware page."""
        module_client.set_correction(FINISHED_HW, 1, scale=1.1, offset_ms=0.01, fitted_on=20,
                                     mape_before=0.2, mape_after=0.08, loo_within_10pct=0.85,
                                     loo_mape=0.06, kendall_tau_lut=0.83, kendall_tau_macs=0.88,
                                     validation_flags=["ranking: Kendall tau 0.83 < MACs' 0.88"])
        status, body = _get(dashboard.url + "/hardware")
        assert status == 200
        assert "<b>85%</b> of held-out networks within ±10%" in body
        assert "Kendall τ of the table 0.83 beside MACs&#39; 0.88" in body or \
            "Kendall τ of the table 0.83 beside MACs' 0.88" in body
        assert "ranks worse than MACs" in body
        assert "failed validation: ranking: Kendall tau 0.83" in body

    def test_only_loopback_host_names_are_served(dashboard):
        status, body = _get(dashboard.url + "/jobs", headers={"Host": "evil.example:80"})
        assert status == 421

    def test_daemon_down_shows_a_banner_that_retries(tmp_path):
        why = _browser_missing()
        if why:
            pytest.skip(why)
        import socket

        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            dead = f"127.0.0.1:{s.getsockname()[1]}"
        d = Dashboard(dead, tmp_path)
        try:
            status, body = _get(d.url + "/jobs")
            assert status == 503
            assert f"lutnasd at {dead} is not reachable" in body and 'id="retry"' in body
            assert "location.reload()" in body  # it retries by itself as well
            status, body = _get(d.url + "/api/jobs")
            assert status == 503 and json.loads(body)["daemon_down"] is True
        finally:
            d.stop()

    def _point(i, lat, score, pareto=False):
        return _data.Point(i, score, 1000 + i, 10000 + i, 0, True, pareto, {"hw": lat}, {"hw": 1.0})

    def test_sample_points_keeps_the_front_and_thins_dense_regions():
        import random

        rng = random.Random(1)
        dense = [_point(i, 1 + rng.random() * 0.01, rng.random()) for i in range(50000)]
        sparse = [_point(50000 + i, 5 + i, 0.5) for i in range(10)]  # outliers
        front = [_point(60000 + i, 0.5, 1.0 + i, pareto=True) for i in range(30)]
        kept = _data.sample_points(dense + sparse + front, "hw", "score", 2000, seed=3)
        ids = {p.id for p in kept}
        assert len(kept) <= 2000 + 30
        assert all(p.id in ids for p in front + sparse)
        assert kept == _data.sample_points(dense + sparse + front, "hw", "score", 2000, seed=3)
        # Points without a latency on the hardware are left out.
        assert _data.sample_points([_data.Point(1, 1, 1, 1, 1, True, False, {}, {})], "hw",
                                   "score", 10) == []

    def test_spread_order_covers_every_page_once_spread_first():
        order = _data.spread_order(50)
        assert sorted(order) == list(range(50))
        assert order[:2] == [0, 25]
        assert _data.spread_order(1) == [0] and _data.spread_order(0) == []


# ====================================================================== browser part
def browser_main(url, server, finished, running, workdir):
    """Runs in .venv/bin/python: Selenium + headless chromium against the dashboard."""
    import onnxruntime
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import lutnas

    downloads = Path(workdir) / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.2)
    client = lutnas.Client(server, timeout=60)

    def step(text):
        print("browser:", text, flush=True)

    try:
        # 1. The jobs list: both jobs, cancel offered only on the running one.
        driver.get(url + "/jobs")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-job="{running}"]'))
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-job="{running}"]')
        assert row.find_element(By.CSS_SELECTOR, '[data-field="state"]').text == "running"
        assert row.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
        done = driver.find_element(By.CSS_SELECTOR, f'tr[data-job="{finished}"]')
        assert done.find_element(By.CSS_SELECTOR, '[data-field="state"]').text == "succeeded"
        assert not done.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
        step("jobs list shows the running and the finished job")

        # 2. The running job's page: its progress moves when scores are told.
        driver.get(f"{url}/jobs/{running}")
        progress = wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '#job-progress [data-field="progress"]'))
        before = progress.text
        evaluated = re.compile(r"(?:^|· )(\d+) evaluated")  # committed; then ": i/n evaluated"
        assert evaluated.search(before).group(1) == "0", before
        assert not before.startswith("generation"), before  # still the initial population
        told = 0
        deadline = time.monotonic() + WAIT_S
        while not told:
            assert time.monotonic() < deadline, "the EXTERNAL job handed out nothing to score"
            try:
                asked = client.ask(running, 4)
            except lutnas.FailedPrecondition:
                asked = []
            if asked:
                told = client.tell(running, {a.arch_hash: float(a.params) for a in asked})
            else:
                time.sleep(0.2)
        wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '#job-progress [data-field="progress"]').text != before)
        after = driver.find_element(By.CSS_SELECTOR, '#job-progress [data-field="progress"]').text
        inside = re.search(r": (\d+)/\d+ evaluated", after)
        moved = int(evaluated.search(after).group(1)) > 0 or (inside and int(inside.group(1)) > 0)
        assert moved, after
        step(f"progress moved after {told} scores were told: {before!r} -> {after!r}")

        # 3. The finished job's Pareto explorer: click a Pareto point.
        driver.get(f"{url}/jobs/{finished}")
        wait.until(lambda d: d.execute_script(
            "return !!(window.lutnasPareto && window.lutnasPareto.complete)"))
        front_ids = driver.execute_script(
            "var t = document.getElementById('pareto').data.filter(function (t) {"
            " return t.name === 'Pareto front' && t.customdata; })[0];"
            " return t.customdata.map(function (c) { return c[0]; });")
        assert front_ids, "no Pareto point drawn"
        expected = {int(c.id) for c in client.iter_candidates(job_id=finished, pareto_only=True)}
        assert set(front_ids) == expected
        index = driver.execute_script(
            "return document.getElementById('pareto').data.findIndex(function (t) {"
            " return t.name === 'Pareto front' && t.customdata; });")
        points = driver.find_elements(
            By.CSS_SELECTOR, f"#pareto .scatterlayer .trace:nth-child({index + 1}) path.point")
        assert points, "the Pareto trace has no SVG points"
        clicked = None
        for p in points[:10]:  # a point may sit under a nearer one of another trace
            ActionChains(driver).move_to_element(p).click().perform()
            try:
                WebDriverWait(driver, 15).until(lambda d: "/candidates/" in d.current_url)
            except Exception:
                continue
            clicked = int(re.search(r"/candidates/(\d+)", driver.current_url).group(1))
            if clicked in expected:
                break
            driver.back()
            wait.until(lambda d: d.execute_script(
                "return !!(window.lutnasPareto && window.lutnasPareto.complete)"))
            points = driver.find_elements(
                By.CSS_SELECTOR, f"#pareto .scatterlayer .trace:nth-child({index + 1}) path.point")
        assert clicked in expected, f"clicking Pareto points opened {clicked}"
        step(f"clicked Pareto point: candidate {clicked}")

        # 4. Its block breakdown, per device, as the daemon has it.
        cand = client.get_candidate(clicked)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#candidate-{clicked} .device"))
        for pred in cand.latency:
            section = driver.find_element(
                By.CSS_SELECTOR, f'#candidate-{clicked} .device[data-hardware="{pred.hardware}"]')
            rows = section.find_elements(By.CSS_SELECTOR, "table.blocks tbody tr")
            assert len(rows) == len(pred.blocks) > 0
            shares = 0.0
            for tr, block in zip(rows, pred.blocks):
                cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                assert cells[0] == block.where
                assert cells[2] == f"{block.latency_ms:.3f}"
                shares += float(cells[3].rstrip("%"))
                measured = block.source.label == "measured"
                assert (cells[4] == "measured") == measured, (cells, block.source)
            assert abs(shares - 100) <= len(rows), shares  # rounded percentages
            header = section.find_element(By.TAG_NAME, "h3").text
            assert f"{pred.latency_ms:.3f} ms" in header
            if pred.hardware == SPEC_HW:
                assert "estimated from the device's spec" in header
        step(f"block breakdown of candidate {clicked} matches the daemon on "
             f"{[p.hardware for p in cand.latency]}")

        # 5. Download the ONNX file and run it.
        driver.find_element(By.CSS_SELECTOR, f"#candidate-{clicked} a.dl-onnx").click()
        onnx_path = downloads / f"candidate_{clicked}.onnx"
        WebDriverWait(driver, 4 * WAIT_S, poll_frequency=0.5).until(
            lambda d: onnx_path.exists() and not list(downloads.glob("*.crdownload")))
        sess = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        (inp,) = sess.get_inputs()
        import numpy as np

        res = cand.arch.resolution
        assert list(inp.shape) == [1, 3, res, res], inp.shape
        (out,) = sess.run(None, {inp.name: np.zeros((1, 3, res, res), np.float32)})
        assert out.shape == (1, cand.arch.head.num_classes), out.shape
        step(f"downloaded {onnx_path.name} ({onnx_path.stat().st_size} bytes); ONNX Runtime "
             f"runs it: output {out.shape}")

        # 6. An unknown job is a clear page.
        driver.get(url + "/jobs/987654")
        assert "Job 987654 does not exist" in driver.find_element(By.ID, "not-found").text
        step("unknown job: clear 404 page")
        print("browser: all checks passed", flush=True)
    except BaseException:
        shot = Path(workdir) / "failure.png"
        driver.save_screenshot(str(shot))
        print(f"browser: failed on {driver.current_url}; screenshot {shot}", flush=True)
        raise
    finally:
        client.close()
        driver.quit()


if __name__ == "__main__":
    browser_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
