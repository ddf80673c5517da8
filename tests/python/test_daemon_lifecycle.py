"""lutnasd across restarts: what a clean stop (SIGTERM) and a crash (kill -9)
leave in the database, and that an interrupted search resumes to exactly the
result of one never interrupted."""

import shutil
import subprocess

import pytest

import lutnas
from lutnas_testkit import search_result
from conftest import (PB, TERMINAL_STATES, Daemon, finish, hardware_with_table,
                      spec_hardware)

S = PB.service_pb2


def _client(d):
    return lutnas.Client(d.target, timeout=30)


def _integrity(db):
    res = subprocess.run(["sqlite3", str(db), "PRAGMA integrity_check"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _finish(c, job_id, timeout=120):
    """Follows a job to its end; returns the final Job."""
    return finish(c, job_id, timeout)[1]


def _snapshot(c, job_ids):
    """Everything a client can read back, as comparable values."""
    tables = sorted(((t.hardware, t.version) for t in c.list_tables()))
    return {
        "hardware": sorted((h.SerializeToString(deterministic=True)
                            for h in c.list_hardware())),
        "tables": [t.SerializeToString(deterministic=True)
                   for t in sorted(c.list_tables(), key=lambda t: (t.hardware, t.version))],
        "entries": {hv: sorted(e.SerializeToString(deterministic=True)
                               for e in c.export_table(*hv)[1]) for hv in tables},
        "jobs": {j: c.get_job(j).SerializeToString(deterministic=True) for j in job_ids},
        "candidates": {j: [x.SerializeToString(deterministic=True)
                           for x in c.iter_candidates(job_id=j)] for j in job_ids},
    }


# ------------------------------------------------------------ clean restart


def test_everything_survives_a_restart(tmp_path):
    d = Daemon(tmp_path / "d").start()
    try:
        with _client(d) as c:
            v1 = hardware_with_table(c, "life-npu", scale=0.01)
            keys = [e.key for e in c.export_table("life-npu")[1]]
            v2 = c.upload_table({"hardware": "life-npu", "backend": "rknn", "tool": "pytest"},
                                [{"key": k, "median_ms": 0.02 * (i + 1), "samples": 3,
                                  "status": "ENTRY_MEASURED"} for i, k in enumerate(keys)])
            assert (v1.version, v2.version) == (1, 2)
            c.set_correction("life-npu", 1, scale=1.25, offset_ms=0.5, fitted_on=10)
            c.register_hardware(spec_hardware("life-spec-only", peak_gops=1000.0))
            c.delete_hardware("rk3588-cpu")  # a deletion must stick too
            job = c.submit({"name": "life", "space": "tiny", "objective": "PARAMS",
                            "population": 8, "sample_size": 4, "generations": 3, "seed": 5,
                            "budgets": [{"hardware": "life-npu", "max_ms": 0.5}],
                            "report_hardware": ["life-spec-only"]})
            final = _finish(c, job.id)
            assert final.state == S.JOB_SUCCEEDED, final.error
            before = _snapshot(c, [job.id])
            cands = list(c.iter_candidates(job_id=job.id))
            assert cands and any(x.pareto for x in cands)
        assert d.stop() == 0, d.log_tail()
        assert _integrity(d.db) == "ok"

        d.start()
        with _client(d) as c:
            assert _snapshot(c, [job.id]) == before
            assert "rk3588-cpu" not in [h.name for h in c.list_hardware()]
            assert sorted(t.version for t in c.list_tables("life-npu")) == [1, 2]
            assert c.export_table("life-npu", 1)[0].correction.scale == 1.25
            assert [x.id for x in c.iter_candidates(job_id=job.id)] == [x.id for x in cands]
            got = c.get_candidate(cands[0].id)
            assert got.arch_hash == cands[0].arch_hash and all(p.blocks for p in got.latency)
            # The restarted daemon carries on numbering where it stopped.
            assert c.upload_table({"hardware": "life-npu"},
                                  [{"key": keys[0], "median_ms": 1.0, "samples": 1,
                                    "status": "ENTRY_MEASURED"}]).version == 3
            job2 = c.submit({"space": "tiny", "objective": "PARAMS", "population": 4,
                             "sample_size": 2, "generations": 0, "seed": 1,
                             "unconstrained": True})
            assert job2.id > job.id
            assert _finish(c, job2.id).state == S.JOB_SUCCEEDED
            assert min(x.id for x in c.iter_candidates(job_id=job2.id)) > max(
                x.id for x in cands)
    finally:
        rc = d.stop()
    assert rc == 0, d.log_tail()


# ------------------------------------------------------------ kill -9

KILL_HW = "crash-npu"
# Big enough to take a few seconds: a ZEN proxy per new architecture.
KILL_SPEC = {"name": "crash", "space": "tiny", "algorithm": "EVOLUTION", "objective": "ZEN",
             "proxy_resolution": 32, "proxy_batch": 4, "population": 16, "sample_size": 4,
             "generations": 30, "seed": 11,
             "budgets": [{"hardware": KILL_HW, "max_ms": 0.3}],
             "report_hardware": ["rk3588-npu"]}




@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The spec run start to end on a fresh database."""
    d = Daemon(tmp_path_factory.mktemp("uninterrupted")).start()
    try:
        with _client(d) as c:
            hardware_with_table(c, KILL_HW)
            job = c.submit(KILL_SPEC)
            final = _finish(c, job.id)
            assert final.state == S.JOB_SUCCEEDED, final.error
            res = search_result(c, job.id)
            res["job"] = final
    finally:
        assert d.stop() == 0, d.log_tail()
    feasible = sum(f for _, _, f in res["scored"])
    assert 0 < feasible < len(res["scored"]), "the budget should cut the space"
    return res


@pytest.mark.parametrize("how,kill_at", [("kill -9", 2), ("kill -9", 9), ("SIGTERM", 5)],
                         ids=["kill9-at-gen2", "kill9-at-gen9", "sigterm-at-gen5"])
def test_interrupted_search_resumes_to_the_same_result(tmp_path, uninterrupted, how, kill_at):
    """kill -9 (or a clean SIGTERM, which stops the job at a generation
    boundary) while a search runs, then a restart on the same database."""
    d = Daemon(tmp_path / "d").start()
    try:
        with _client(d) as c:
            hardware_with_table(c, KILL_HW)
            job = c.submit(KILL_SPEC)
            seen = None
            for seen in c.watch(job.id, timeout=120):
                assert seen.state not in TERMINAL_STATES, "the job ended before the kill"
                if seen.progress.generation >= kill_at:
                    break
            assert seen is not None and seen.progress.generation >= kill_at
            stored = search_result(c, job.id)["ids"]
            assert stored
            at_kill = c.get_job(job.id)
        if how == "SIGTERM":
            assert d.stop() == 0, d.log_tail()
        else:
            d.kill()
            assert d.proc.returncode == -9
        assert at_kill.state == S.JOB_RUNNING and at_kill.progress.generation < 30

        # What the crash left on disk is a sound database (checked on a copy,
        # so the daemon below does its own recovery).
        copy = tmp_path / "crash-copy"
        copy.mkdir()
        for f in d.workdir.glob("lutnas.db*"):
            shutil.copy2(f, copy / f.name)
        assert _integrity(copy / "lutnas.db") == "ok"

        d.start()
        with _client(d) as c:
            final = _finish(c, job.id)
            assert final.state == S.JOB_SUCCEEDED, final.error
            got = search_result(c, job.id)
            assert len(got["hashes"]) == len(set(got["hashes"])), "duplicate candidates"
            lost = {i: h for i, h in stored.items() if got["ids"].get(i) != h}
            assert not lost, f"candidates stored before the kill changed or vanished: {lost}"
            assert got["pareto"] == uninterrupted["pareto"]
            assert got["scored"] == uninterrupted["scored"]
            assert final.progress.evaluated == uninterrupted["job"].progress.evaluated
            assert final.progress.generation == uninterrupted["job"].progress.generation == 30
    finally:
        rc = d.stop()
    assert rc == 0, d.log_tail()
    assert _integrity(d.db) == "ok"
