"""kill -9 at random moments: during a search, a table upload and a batch of
candidate writes. Every kill point comes from a seeded random.Random, so a
failure names a point that reruns the same way (up to thread timing).

What must hold after each kill and restart on the same database:
- the file is sound (PRAGMA integrity_check through the sqlite3 CLI, on a copy
  of what the crash left, so the daemon does its own recovery);
- (a) an interrupted search resumes to the result of one never interrupted
  (same Pareto set by arch_hash, same scored candidates);
- (b) an upload is stored whole (a new version with every entry sent) or not
  at all, an upload the daemon acknowledged is never lost, and the versions
  stored before are untouched;
- (c) every stored candidate is complete (architecture with blocks, params,
  a latency for each budget and report hardware) and none is stored twice.
"""

import random
import threading
import time

import pytest

import lutnas
from conftest import PB, Daemon, finish, hardware_with_table, spec_hardware
from lutnas_testkit import integrity_check, sql, synthetic_entries, synthetic_keys, search_result

S = PB.service_pb2
SEED = 20240607
KILLS = 5


def _client(d, timeout=60):
    return lutnas.Client(d.target, timeout=timeout)


def _kill(d):
    d.kill()
    assert d.proc.returncode == -9


def _watch_until(c, job_id, generation, what):
    """Follows a job until it reports `generation`; fails if it ends first."""
    for job in c.watch(job_id, timeout=120):
        assert job.state not in (S.JOB_SUCCEEDED, S.JOB_FAILED, S.JOB_CANCELLED), (
            f"{what}: the job ended ({S.JobState.Name(job.state)}) before generation "
            f"{generation}")
        if job.progress.generation >= generation:
            return job
    pytest.fail(f"{what}: the watch ended before generation {generation}")


# ------------------------------------------------------------ (a) a search

SEARCH_HW = "crash-npu"
SEARCH_GENERATIONS = 20
# ZEN proxies make a generation take tens of milliseconds: room to land inside one.
SEARCH_SPEC = {"name": "crash-search", "space": "tiny", "algorithm": "EVOLUTION",
               "objective": "ZEN", "proxy_resolution": 32, "proxy_batch": 4,
               "population": 16, "sample_size": 4, "generations": SEARCH_GENERATIONS,
               "seed": 29, "budgets": [{"hardware": SEARCH_HW, "max_ms": 0.3}],
               "report_hardware": ["rk3588-npu"]}




@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """SEARCH_SPEC run start to end on a fresh database, never interrupted."""
    d = Daemon(tmp_path_factory.mktemp("crash-reference")).start()
    try:
        with _client(d) as c:
            hardware_with_table(c, SEARCH_HW)
            t0 = time.monotonic()
            job = c.submit(SEARCH_SPEC)
            final = finish(c, job.id)[1]
            seconds = time.monotonic() - t0
            assert final.state == S.JOB_SUCCEEDED, final.error
            res = search_result(c, job.id)
    finally:
        assert d.stop() == 0, d.log_tail()
    assert res["pareto"] and 0 < sum(f for _, _, f in res["scored"]) < len(res["scored"])
    res["job"], res["seconds"] = final, seconds
    return res


def _search_kill_points():
    rng = random.Random(SEED)
    # (generation seen on Watch, then a pause of up to about one generation)
    return [(rng.randint(1, SEARCH_GENERATIONS - 4), rng.uniform(0.0, 0.08))
            for _ in range(KILLS)]


@pytest.mark.parametrize("generation,pause", _search_kill_points(),
                         ids=[f"kill{i + 1}" for i in range(KILLS)])
def test_kill9_during_search_resumes_to_the_reference_result(tmp_path, reference, generation,
                                                             pause):
    d = Daemon(tmp_path / "d").start()
    try:
        with _client(d) as c:
            hardware_with_table(c, SEARCH_HW)
            job = c.submit(SEARCH_SPEC)
            _watch_until(c, job.id, generation, "search")
            time.sleep(pause)
            stored = search_result(c, job.id)["ids"]
        _kill(d)
        assert integrity_check(d.db) == "ok"
        (state,), = sql(d.db, f"SELECT state FROM jobs WHERE id = {job.id}")
        assert int(state) == S.JOB_RUNNING, "the kill did not land during the search"

        d.start()
        with _client(d) as c:
            final = finish(c, job.id)[1]
            assert final.state == S.JOB_SUCCEEDED, final.error
            got = search_result(c, job.id)
    finally:
        rc = d.stop()
    assert rc == 0, d.log_tail()
    assert integrity_check(d.db) == "ok"
    assert len(got["hashes"]) == len(set(got["hashes"])), "duplicate candidates"
    lost = {i: h for i, h in stored.items() if got["ids"].get(i) != h}
    assert not lost, f"candidates stored before the kill changed or vanished: {lost}"
    assert got["pareto"] == reference["pareto"], (
        f"Pareto set differs from the uninterrupted run: missing "
        f"{sorted(reference['pareto'] - got['pareto'])}, extra "
        f"{sorted(got['pareto'] - reference['pareto'])}")
    assert got["scored"] == reference["scored"]
    assert final.progress.evaluated == reference["job"].progress.evaluated
    assert final.progress.generation == SEARCH_GENERATIONS


# ------------------------------------------------------------ (b) a table upload

UPLOAD_HW = "crash-table"
UPLOAD_ENTRIES = 20000
UPLOAD_KILLS = 6


def _versions(db):
    """{version: (entries, sum of median_ms, min key, max key)} of UPLOAD_HW, read
    from the database file itself."""
    rows = sql(db, "SELECT t.version, COUNT(e.key), SUM(e.median_ms), MIN(e.key), MAX(e.key) "
                   "FROM tables t LEFT JOIN entries e ON e.table_id = t.id "
                   f"WHERE t.hardware = '{UPLOAD_HW}' GROUP BY t.version ORDER BY t.version")
    return {int(v): (int(n), float(s or 0), lo, hi) for v, n, s, lo, hi in rows}


def test_kill9_during_table_upload_stores_all_or_nothing(tmp_path):
    rng = random.Random(SEED + 1)
    keys = synthetic_keys(UPLOAD_ENTRIES, spaces=("edge",))
    d = Daemon(tmp_path / "d").start()
    outcomes = []
    try:
        with _client(d) as c:
            c.register_hardware(spec_hardware(UPLOAD_HW))
            t0 = time.monotonic()
            first = c.upload_table({"hardware": UPLOAD_HW, "space": "edge", "tool": "crash"},
                                   iter(synthetic_entries(keys, 0)))
            upload_s = time.monotonic() - t0
        assert (first.version, first.entries) == (1, UPLOAD_ENTRIES)
        stored = _versions(d.db)
        assert stored[1][0] == UPLOAD_ENTRIES

        for attempt in range(1, UPLOAD_KILLS + 1):
            # Anywhere from before the first message to just after the last.
            delay = rng.uniform(0.0, 1.2 * upload_s)
            result = {}

            def upload(seed=attempt, result=result):
                try:
                    with _client(d) as c:
                        result["info"] = c.upload_table(
                            {"hardware": UPLOAD_HW, "space": "edge", "tool": f"crash {seed}"},
                            iter(synthetic_entries(keys, seed)))
                except lutnas.LutnasError as e:
                    result["error"] = e

            t = threading.Thread(target=upload)
            t.start()
            time.sleep(delay)
            _kill(d)
            t.join(60)
            assert not t.is_alive(), "the upload call did not return after the kill"
            assert integrity_check(d.db) == "ok"

            now = _versions(d.db)
            assert {v: now[v] for v in stored} == stored, (
                f"attempt {attempt}: a version stored before the kill changed")
            new = sorted(set(now) - set(stored))
            assert len(new) <= 1, f"attempt {attempt}: several new versions {new}"
            if "info" in result:  # acknowledged: must have survived the kill
                assert new == [result["info"].version], (
                    f"attempt {attempt}: the daemon acknowledged version "
                    f"{result['info'].version} but the database holds {sorted(now)}")
            if new:
                assert now[new[0]][0] == UPLOAD_ENTRIES, (
                    f"attempt {attempt}: a partial table: version {new[0]} holds "
                    f"{now[new[0]][0]} of {UPLOAD_ENTRIES} entries")

            d.start()
            with _client(d) as c:
                listed = {t.version: t.entries for t in c.list_tables(UPLOAD_HW)}
                assert listed == {v: n for v, (n, *_) in now.items()}
                if new:
                    info, entries = c.export_table(UPLOAD_HW, new[0])
                    assert info.tool == f"crash {attempt}"
                    want = {e["key"]: e["median_ms"] for e in synthetic_entries(keys, attempt)}
                    assert {e.key: e.median_ms for e in entries} == want
            outcomes.append((round(delay, 3), "stored" if new else "absent"))
            stored = now
    finally:
        rc = d.stop()
    assert rc == 0, d.log_tail()
    assert len(outcomes) == UPLOAD_KILLS
    print(f"upload kills survived: {outcomes}")


# ------------------------------------------------------------ (c) candidate writes

BATCH_HW = "crash-edge"
BATCH_GENERATIONS = 120
# NSGA-II over the big edge space: each generation's commit writes ~190 new
# candidate rows (and their latency rows, and the Pareto flags) in one transaction.
BATCH_SPEC = {"name": "crash-batch", "space": "edge", "algorithm": "NSGA2",
              "objective": "PARAMS", "population": 200, "generations": BATCH_GENERATIONS,
              "seed": 31, "budgets": [{"hardware": BATCH_HW, "max_ms": 40.0}],
              "report_hardware": ["rk3588-npu"]}
BATCH_LATENCY_HW = {BATCH_HW, "rk3588-npu"}


def _check_rows_on_disk(db, job_id, what):
    """Straight from the file: no candidate without its arch, genotype, params
    or a latency row for each hardware, no (job, arch_hash) twice. Returns
    (candidate count, ids of the last generation written)."""
    (n,), = sql(db, f"SELECT COUNT(*) FROM candidates WHERE job_id = {job_id}")
    bad = sql(db, "SELECT id FROM candidates c WHERE job_id = {j} AND (params <= 0 OR "
                  "length(arch) = 0 OR length(genotype) = 0 OR length(arch_hash) = 0 OR "
                  "(SELECT COUNT(*) FROM candidate_latency l WHERE l.candidate_id = c.id "
                  "AND l.latency_ms > 0) != {h}) LIMIT 5"
              .format(j=job_id, h=len(BATCH_LATENCY_HW)))
    assert not bad, f"{what}: incomplete candidate rows {bad}"
    dup = sql(db, f"SELECT arch_hash, COUNT(*) FROM candidates WHERE job_id = {job_id} "
                  "GROUP BY arch_hash HAVING COUNT(*) > 1 LIMIT 5")
    assert not dup, f"{what}: candidates stored twice {dup}"
    last = sql(db, f"SELECT id FROM candidates WHERE job_id = {job_id} AND generation = "
                   f"(SELECT MAX(generation) FROM candidates WHERE job_id = {job_id})")
    return int(n), [int(i) for i, in last]


def _check_candidate(c, cid, what):
    got = c.get_candidate(cid)
    assert got.params > 0 and got.arch_hash, f"{what}: candidate {cid} incomplete"
    assert got.arch.stages and all(s.blocks for s in got.arch.stages), (
        f"{what}: candidate {cid} has an architecture without blocks")
    assert {p.hardware for p in got.latency} == BATCH_LATENCY_HW, (
        f"{what}: candidate {cid} has latency for {[p.hardware for p in got.latency]}")
    assert all(p.blocks and p.latency_ms > 0 for p in got.latency), what


def test_kill9_during_candidate_batches_leaves_complete_rows(tmp_path):
    rng = random.Random(SEED + 2)
    keys = synthetic_keys(2000, spaces=("edge",))
    d = Daemon(tmp_path / "d").start()
    survived = []
    try:
        with _client(d) as c:
            c.register_hardware(spec_hardware(BATCH_HW))
            c.upload_table({"hardware": BATCH_HW, "space": "edge"}, synthetic_entries(keys, 1))
            job = c.submit(BATCH_SPEC)
        seen_generation = 0
        for i in range(KILLS):
            # A few generations on from where the (resumed) job is, then a
            # pause of up to one generation: inside a commit or between two.
            target = seen_generation + rng.randint(1, 4)
            what = f"kill {i + 1} (generation >= {target})"
            with _client(d) as c:
                at = _watch_until(c, job.id, target, what)
                time.sleep(rng.uniform(0.0, 0.05))
            _kill(d)
            assert integrity_check(d.db) == "ok", what
            n, last = _check_rows_on_disk(d.db, job.id, what)
            d.start()
            with _client(d) as c:
                for cid in last:  # the batch committed last before the kill
                    _check_candidate(c, cid, what)
                seen_generation = c.get_job(job.id).progress.generation
            survived.append((at.progress.generation, n, len(last)))
        with _client(d) as c:
            final = finish(c, job.id, timeout=120)[1]
            assert final.state == S.JOB_SUCCEEDED, final.error
            assert final.progress.generation == BATCH_GENERATIONS
            cands = list(c.iter_candidates(job_id=job.id, page_size=1000))
            for x in cands:
                assert x.params > 0 and all(s.blocks for s in x.arch.stages), x.id
                assert {p.hardware for p in x.latency} == BATCH_LATENCY_HW, x.id
            for x in rng.sample(cands, 20):
                _check_candidate(c, x.id, "after the last resume")
    finally:
        rc = d.stop()
    assert rc == 0, d.log_tail()
    assert integrity_check(d.db) == "ok"
    assert _check_rows_on_disk(d.db, job.id, "at the end")[0] == len(cands)
    assert len({x.arch_hash for x in cands}) == len(cands)
    assert len(survived) == KILLS
    print("candidate-batch kills survived (generation seen, candidates on disk, "
          f"rows of the last commit): {survived}")
