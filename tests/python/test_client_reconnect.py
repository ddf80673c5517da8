"""The client across a daemon restart: wait(), watch() and iter_candidates()
reconnect within the client's timeout instead of raising Unavailable, and a
job's progress once it ended counts only what it stored."""

import socket
import threading
import time

import pytest

import lutnas
from conftest import Daemon, finish, hardware_with_table, wait_for

PB = lutnas.proto()
HW = "pytest-reconnect"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fixed_port_daemon(tmp_path):
    """A daemon on a fixed port, so that a restart serves the same address."""
    d = Daemon(tmp_path / "d", ["--listen", f"127.0.0.1:{_free_port()}"]).start()
    yield d
    d.stop()


def _long_spec(**over):
    spec = {"name": "pytest-reconnect", "space": "tiny", "objective": "PARAMS",
            "algorithm": "RANDOM", "population": 200, "generations": 2000, "seed": 5,
            "budgets": [{"hardware": HW, "max_ms": 10}]}
    spec.update(over)
    return spec


def _restart(d, down_s=1.0):
    assert d.stop() == 0, d.log_tail()
    time.sleep(down_s)
    d.start()


def test_wait_rides_out_a_daemon_restart(fixed_port_daemon):
    d = fixed_port_daemon
    with lutnas.Client(d.target, timeout=30) as c:
        hardware_with_table(c, HW)
        job = c.submit(_long_spec())
        wait_for(lambda: c.get_job(job.id).progress.evaluated > 0, what="the job to run")
        result, seen = {}, []

        def waiter():
            try:
                result["job"] = c.wait(job.id, timeout=120, on_progress=seen.append)
            except Exception as e:  # noqa: BLE001 (the test reports it)
                result["error"] = e

        t = threading.Thread(target=waiter)
        t.start()
        wait_for(lambda: seen, what="a first snapshot")
        _restart(d)
        # The job resumed after the restart; the same client (same channel) cancels it.
        wait_for(lambda: c._unary_reconnecting(
            c._search.Get, PB.service_pb2.GetJobRequest(id=job.id), 30).state
            == PB.service_pb2.JOB_RUNNING, what="the job to resume")
        c.cancel(job.id)
        t.join(timeout=120)
        assert "error" not in result, repr(result.get("error"))
        assert result["job"].state == PB.service_pb2.JOB_CANCELLED
        assert "resumed from its checkpoint" in d.log_path.read_text()


def test_watch_and_iter_candidates_ride_out_a_restart(fixed_port_daemon):
    d = fixed_port_daemon
    with lutnas.Client(d.target, timeout=30) as c:
        hardware_with_table(c, HW)
        done = c.submit(_long_spec(population=8, generations=1, algorithm="EVOLUTION"))
        finish(c, done.id)
        it = c.iter_candidates(job_id=done.id, page_size=2)
        first = [next(it), next(it)]
        job = c.submit(_long_spec())
        events = c.watch(job.id)
        assert next(events).id == job.id
        _restart(d)
        rest = list(it)  # the next page is asked of the restarted daemon
        assert len(first) + len(rest) == c.list_candidates(job_id=done.id).total
        # The watch follows the resumed job; cancel it and read to its end.
        wait_for(lambda: c.get_job(job.id).state == PB.service_pb2.JOB_RUNNING,
                 what="the job to resume")
        c.cancel(job.id)
        states = [e.state for e in events]
        assert states[-1] == PB.service_pb2.JOB_CANCELLED


def test_a_daemon_that_is_not_there_fails_at_once(tmp_path):
    with lutnas.Client(f"127.0.0.1:{_free_port()}", timeout=30) as c:
        t0 = time.monotonic()
        with pytest.raises(lutnas.Unavailable):
            list(c.watch(1))
        with pytest.raises(lutnas.Unavailable):
            list(c.iter_candidates(job_id=1))
        assert time.monotonic() - t0 < 20  # no reconnect window for a first call


def test_a_cancelled_job_reports_what_it_stored(module_client):
    c = module_client
    hardware_with_table(c, HW + "-cancel")
    job = c.submit(_long_spec(budgets=[{"hardware": HW + "-cancel", "max_ms": 10}]))
    wait_for(lambda: c.get_job(job.id).progress.generation >= 1, what="a committed generation")
    c.cancel(job.id)
    _, final = finish(c, job.id)
    assert final.state == PB.service_pb2.JOB_CANCELLED
    cands = list(c.iter_candidates(job_id=job.id, page_size=1000))
    p = final.progress
    assert p.evaluated == len(cands)
    assert p.best_score == max(x.score for x in cands if x.feasible)
    assert p.pareto_size == len([x for x in cands if x.pareto])
    assert (p.generation_evaluated, p.eta_s) == (0, 0)
