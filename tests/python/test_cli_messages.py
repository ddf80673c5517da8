"""What a new user reads: submit-time warnings (at submit and in `search
show`, carried in job.spec.warnings), a dead daemon, a cancelled job, the
predict table, zoo names for predict, case and typos in names, and
lutnasd's own start-up messages."""

import socket
import subprocess

import pytest

import lutnas
from conftest import finish, hardware_with_table, lutnasd_path, run_cli, tiny_arch

PB = lutnas.proto()
HW = "pytest-messages"


@pytest.fixture(scope="module")
def tiny_table_hw(module_client):
    hardware_with_table(module_client, HW)
    return HW


def test_a_budget_table_of_another_space_is_a_warning_at_submit_and_in_show(
        module_daemon, module_client, tiny_table_hw):
    c = module_client
    spec = {"name": "edge-on-tiny", "space": "edge", "objective": "PARAMS", "population": 8,
            "generations": 1, "budgets": [{"hardware": tiny_table_hw, "max_ms": 1000}]}
    with pytest.warns(lutnas.errors.SubmitWarning, match=r"^job \d+: budgets\[0\]: table v"):
        job = c.submit(spec)
    (w,) = [w for w in job.spec.warnings if w.startswith("budgets[0]: table v")]
    assert f"of '{tiny_table_hw}' measures " in w and "of the latency of space 'edge'" in w
    assert "the search ranks by estimated latencies" in w
    code, out, err = run_cli(module_daemon.target, "search", "submit", "--space", "edge",
                             "--budget", f"{tiny_table_hw}=1000", "--objective", "params",
                             "--population", "8", "--generations", "1")
    assert code == 0, err
    job_id = int(out.split()[0])
    assert "warning: budgets[0]: table v" in err
    code, out, _ = run_cli(module_daemon.target, "search", "show", str(job_id))
    assert code == 0 and "warning     budgets[0]: table v" in out
    # The table's own space: it measures more of it (this table holds the keys of
    # two tiny networks only, so the warning stays, with a larger share).
    with pytest.warns(lutnas.errors.SubmitWarning):
        tiny = c.submit(dict(spec, space="tiny"))
    (t,) = [w for w in tiny.spec.warnings if "measures" in w]

    def share(text):
        return int(text.split(" measures ")[1].split("%")[0])

    assert share(w) < share(t)


def test_space_names_match_in_any_case_and_typos_get_did_you_mean(module_client, tiny_table_hw):
    c = module_client
    job = c.submit({"space": "Tiny", "objective": "PARAMS", "population": 4, "generations": 1,
                    "budgets": [{"hardware": tiny_table_hw, "max_ms": 1000}]})
    assert job.spec.space == "tiny"
    with pytest.raises(lutnas.NotFound, match=r"unknown space 'eddge'; did you mean 'edge'\?"):
        c.submit({"space": "eddge", "objective": "PARAMS", "unconstrained": True})
    with pytest.raises(lutnas.NotFound, match=r"did you mean 'rk3588-npu'\?"):
        c.predict(tiny_arch(), ["rk3588-nup"])
    with pytest.raises(lutnas.NotFound, match=r"spec\.budgets\[0\]\.hardware: unknown hardware "
                                              r"'rk3588-np'; did you mean 'rk3588-npu'\?"):
        c.submit({"space": "tiny", "objective": "PARAMS",
                  "budgets": [{"hardware": "rk3588-np", "max_ms": 5}]})


def test_search_show_of_a_cancelled_job_says_it_once(module_daemon, module_client,
                                                     tiny_table_hw):
    c = module_client
    job = c.submit({"space": "tiny", "objective": "PARAMS", "algorithm": "RANDOM",
                    "population": 200, "generations": 2000,
                    "budgets": [{"hardware": tiny_table_hw, "max_ms": 1000}]})
    c.cancel(job.id)
    finish(c, job.id)
    code, out, _ = run_cli(module_daemon.target, "search", "show", str(job.id))
    assert code == 0
    (state,) = [line for line in out.splitlines() if line.startswith("state")]
    assert state.split()[1] == "cancelled" and "(cancelled)" not in state


def test_predict_table_and_zoo_names(module_daemon, tiny_table_hw):
    code, out, err = run_cli(module_daemon.target, "predict", "mobilenet_v2",
                             "--hardware", f"{tiny_table_hw},rk3588-npu")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("hardware"))
    assert header.split() == ["hardware", "table", "latency", "ms", "sum", "ms", "measured"]
    (npu,) = [line for line in out.splitlines() if line.startswith("rk3588-npu")]
    assert npu.split()[1] == "spec"
    code, _, err = run_cli(module_daemon.target, "predict", "no_such_model")
    assert code == 1 and "zoo model 'no_such_model'" in err


def test_a_dead_daemon_says_how_to_start_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = f"127.0.0.1:{port}"
    code, _, err = run_cli(target, "hardware", "list", timeout=10)
    assert code == 1
    assert err.startswith(f"error: cannot reach lutnasd at {target}: is it running there? "
                          f"Start it with `build/bin/lutnasd --listen {target}"), err


def test_lutnasd_token_file_that_cannot_be_read_says_so():
    r = subprocess.run([str(lutnasd_path()), "--token_file", "/nonexistent/token",
                        "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("lutnasd: --token_file /nonexistent/token: cannot read the file ("), \
        r.stderr
    assert "at least 16 characters" not in r.stderr


def test_lutnasd_help_lists_its_flags_under_its_name():
    r = subprocess.run([str(lutnasd_path()), "--help"], capture_output=True, text=True,
                       timeout=60)
    text = r.stdout + r.stderr
    assert "Flags from lutnasd:" in text, text[:2000]
    assert "server/main.cc" not in text
    assert "--max_response_mb" in text and "--max_predict_calls" in text
