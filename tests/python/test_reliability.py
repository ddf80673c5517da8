"""Reliability (issue 14) and progress in generation 0 (issue 13 item 3),
against the real lutnasd. Each test here failed before its fix:

- cancel takes effect before the next candidate evaluation (within 1 s, in
  generation 0 too), is stored before it is answered (a kill -9 right after
  does not resume the job), and never answers JOB_CANCELLED for a job that
  then runs on;
- SIGTERM exits within 2 s in any phase, and the job resumes to the result of
  an uninterrupted run; a second signal forces exit;
- progress events arrive during generation 0, one per evaluated batch, with
  an ETA;
- import files: FIFOs refused at once, NUL bytes refused, one answer for every
  path outside --import_dir;
- ordered percentiles, soft_weight's range, MACs that do not fit int64;
- resource bounds: queued jobs, uploads and their bytes, Watch streams, each
  RESOURCE_EXHAUSTED naming its flag;
- CRLF token files, --listen :0 opening one port, lutnasd --help.
"""

import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

import lutnas
from conftest import PB, ROOT, Daemon, finish, hardware_with_table, lutnasd_path, tiny_arch
from lutnas_testkit import search_result

S = PB.service_pb2
T = PB.table_pb2
G = PB.service_pb2_grpc
TERMINAL = (S.JOB_SUCCEEDED, S.JOB_FAILED, S.JOB_CANCELLED)

# Zen at 96 px on the edge space: generation 0 at population 48 takes
# seconds, each candidate about a tenth of one (bench/bench_reliability.py
# measures the 128 px case). A MACs cap keeps it bounded.
SLOW_SPEC = {"name": "slow", "space": "edge", "objective": "ZEN", "proxy_resolution": 96,
             "population": 48, "generations": 2, "seed": 5, "max_macs": 2_000_000_000}
# Small enough to run to the end a few times; Zen so that a generation takes time.
RESUME_SPEC = {"name": "resume", "space": "tiny", "objective": "ZEN", "proxy_resolution": 64,
               "proxy_batch": 4, "population": 16, "sample_size": 4, "generations": 5,
               "seed": 41, "max_macs": 500_000_000}
CHEAP_SPEC = {"name": "cheap", "space": "tiny", "objective": "PARAMS", "population": 8,
              "generations": 2, "seed": 3, "max_macs": 500_000_000}


def _stubs(d):
    ch = grpc.insecure_channel(d.target)
    return ch, G.SearchServiceStub(ch), G.TableServiceStub(ch)


def _first_progress_event(c, job_id, min_generation=0, timeout=120):
    """The first Watch snapshot inside a generation >= min_generation that
    reports evaluations not yet committed (generation_evaluated > 0)."""
    for job in c.watch(job_id, timeout=timeout):
        assert job.state not in TERMINAL, f"job ended ({S.JobState.Name(job.state)}) first: {job.error}"
        p = job.progress
        if p.generation_evaluated > 0 and p.generation >= min_generation and (
                min_generation == 0 or p.evaluated > 0):
            return job
    pytest.fail("the watch ended without a progress event inside a generation")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("rel")).start()
    yield d
    assert d.stop() == 0, d.log_tail()


@pytest.fixture(scope="module")
def client(daemon):
    with lutnas.Client(daemon.target, timeout=60) as c:
        yield c


# ------------------------------------------------------------ progress in generation 0

def test_progress_events_during_generation_0_one_per_batch_with_eta(client):
    job = client.submit(SLOW_SPEC)
    events = []
    t0 = time.monotonic()
    for j in client.watch(job.id, timeout=120):
        events.append((time.monotonic() - t0, j))
        if j.progress.generation_evaluated >= 16 or j.state in TERMINAL:
            break
    client.cancel(job.id)
    inside = [(t, j) for t, j in events if j.progress.generation_evaluated > 0]
    assert len(inside) >= 2, [j.progress for _, j in events]
    # Before the fix the first event after RUNNING came with generation 0's commit.
    assert all(j.progress.evaluated == 0 for _, j in inside)  # nothing committed yet
    done = [j.progress.generation_evaluated for _, j in inside]
    assert done == sorted(done) and len(set(done)) == len(done), done
    assert all(d % 8 == 0 for d in done), done  # one event per batch of 8 candidates
    first = inside[0][1].progress
    assert first.generation_size == 48
    assert first.eta_s > 0 and first.generation_eta_s > 0
    assert first.eta_s > first.generation_eta_s  # the job has 2 more generations


# ------------------------------------------------------------ cancel

def test_cancel_in_generation_0_takes_effect_within_1s_and_nothing_runs_after(client, daemon):
    job = client.submit({**SLOW_SPEC, "seed": 6})  # no proxy scores cached by other tests
    ev = _first_progress_event(client, job.id)
    # One candidate's time on this (shared) machine, from the job's own rate.
    per_candidate = ev.progress.elapsed_s / ev.progress.generation_evaluated
    t0 = time.monotonic()
    answer = client.cancel(job.id)
    took = time.monotonic() - t0
    assert answer.state == S.JOB_CANCELLED, S.JobState.Name(answer.state)
    # Within 1 s on an idle machine; under load at most a few candidates'
    # time, never the rest of the generation (6.2 s and JOB_RUNNING before the fix).
    bound = max(1.0, 3 * per_candidate)
    assert took < bound, f"cancel took {took:.2f} s (one candidate: {per_candidate:.2f} s)"
    # Nothing runs after the answer: the row does not change any more.
    time.sleep(1.0)
    later = client.get_job(job.id)
    assert later.state == S.JOB_CANCELLED
    assert later.updated_unix_ms == answer.updated_unix_ms
    assert later.progress.evaluated == answer.progress.evaluated


def test_cancel_racing_the_worker_never_answers_cancelled_for_a_job_that_runs(client):
    """Submit + cancel at once, 150 times, on the only worker: whatever Cancel
    answers, a job it called CANCELLED stays CANCELLED (23 of 2,608 ran to
    JOB_SUCCEEDED before the fix)."""
    answers = {}
    for i in range(150):
        job = client.submit({**CHEAP_SPEC, "seed": 100 + i})
        if i % 3:
            time.sleep(0.001 * (i % 7))
        try:
            answers[job.id] = client.cancel(job.id).state
        except lutnas.errors.LutnasError as e:
            assert e.code == grpc.StatusCode.FAILED_PRECONDITION, e  # it had ended already
            answers[job.id] = None
    for jid, said in answers.items():
        final = client.get_job(jid)
        for _ in range(200):
            if final.state in TERMINAL:
                break
            time.sleep(0.05)
            final = client.get_job(jid)
        if said == S.JOB_CANCELLED:
            assert final.state == S.JOB_CANCELLED, (jid, S.JobState.Name(final.state))
        else:
            assert said is None and final.state == S.JOB_SUCCEEDED, (jid, said, final.state)
    assert sum(1 for s in answers.values() if s == S.JOB_CANCELLED) > 0


def test_cancel_is_stored_before_it_is_answered_kill9_does_not_resume(tmp_path):
    d = Daemon(tmp_path / "d").start()
    try:
        with lutnas.Client(d.target, timeout=60) as c:
            job = c.submit(SLOW_SPEC)
            _first_progress_event(c, job.id)
            assert c.cancel(job.id).state == S.JOB_CANCELLED
        d.kill()
        d.start()
        with lutnas.Client(d.target, timeout=60) as c:
            assert c.get_job(job.id).state == S.JOB_CANCELLED
            # The only worker is free at once (it held it for 33 s before the fix).
            nxt = c.submit(CHEAP_SPEC)
            t0 = time.monotonic()
            _, final = finish(c, nxt.id, timeout=60)
            assert final.state == S.JOB_SUCCEEDED
            assert time.monotonic() - t0 < 15
            assert c.get_job(job.id).state == S.JOB_CANCELLED
    finally:
        d.kill()


# ------------------------------------------------------------ SIGTERM

@pytest.fixture(scope="module")
def resume_reference(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("resume-ref")).start()
    try:
        with lutnas.Client(d.target, timeout=60) as c:
            job = c.submit(RESUME_SPEC)
            _, final = finish(c, job.id, timeout=300)
            assert final.state == S.JOB_SUCCEEDED, final.error
            return search_result(c, job.id)
    finally:
        assert d.stop() == 0, d.log_tail()


@pytest.mark.parametrize("generation", [0, 2])
def test_sigterm_mid_generation_exits_within_2s_and_resumes_identically(tmp_path, resume_reference,
                                                                        generation):
    d = Daemon(tmp_path / "d").start()
    try:
        with lutnas.Client(d.target, timeout=60) as c:
            job = c.submit(RESUME_SPEC)
            _first_progress_event(c, job.id, min_generation=generation)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=30)
        took = time.monotonic() - t0
        assert rc == 0, d.log_tail()
        assert took < 2.0, f"SIGTERM to exit took {took:.2f} s"
        d.start()
        with lutnas.Client(d.target, timeout=60) as c:
            _, final = finish(c, job.id, timeout=300)
            assert final.state == S.JOB_SUCCEEDED, final.error
            got = search_result(c, job.id)
        assert got["pareto"] == resume_reference["pareto"]
        assert got["scored"] == resume_reference["scored"]
        assert got["hashes"] == resume_reference["hashes"]
    finally:
        d.kill()


def test_second_sigterm_forces_exit(tmp_path):
    """An upload that never ends holds the first shutdown for the grace
    period (10 s here); a second SIGTERM ends the daemon at once."""
    d = Daemon(tmp_path / "d", ["--shutdown_grace_s", "10"]).start()
    ch, _, tables = _stubs(d)
    stop = threading.Event()

    def never_ending():
        yield S.UploadTableRequest(info=T.TableInfo(hardware="host-cpu"))
        stop.wait(30)

    fut = tables.Upload.future(never_ending(), timeout=30)
    time.sleep(0.5)
    try:
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert d.proc.poll() is None, "the first SIGTERM should wait for the upload in flight"
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=10)
        assert time.monotonic() - t0 < 1.0
        assert rc == 130, d.log_tail()  # before the fix the second signal was ignored
        assert "second signal" in d.log_tail()
    finally:
        stop.set()
        fut.cancel()
        ch.close()
        d.kill()


# ------------------------------------------------------------ import files

CSV = "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"


@pytest.fixture(scope="module")
def import_daemon(tmp_path_factory):
    root = tmp_path_factory.mktemp("imp")
    (root / "imports").mkdir()
    d = Daemon(root / "d", ["--import_dir", str(root / "imports"), "--max_import_mb", "1"]).start()
    yield d, root
    assert d.stop() == 0, d.log_tail()


def _import_error(c, path):
    with pytest.raises(lutnas.errors.LutnasError) as e:
        c.import_table("rk3588-npu", path=path, timeout=10)
    return e.value


def test_fifo_import_is_refused_at_once_and_shutdown_still_works(import_daemon):
    d, root = import_daemon
    os.mkfifo(root / "imports" / "pipe.csv")
    with lutnas.Client(d.target, timeout=10) as c:
        t0 = time.monotonic()
        err = _import_error(c, "pipe.csv")
        assert time.monotonic() - t0 < 2  # blocked a handler forever before the fix
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "path" in str(err) and "not a regular file" in str(err)
        err = _import_error(c, "./sub/../pipe.csv")
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT


def test_import_size_cap(import_daemon):
    d, root = import_daemon
    (root / "imports" / "big.csv").write_text(CSV + "x" * (2 << 20))
    with lutnas.Client(d.target, timeout=10) as c:
        err = _import_error(c, "big.csv")
        assert err.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_import_mb" in str(err)


def test_import_path_with_nul_is_refused(import_daemon):
    d, root = import_daemon
    (root / "imports" / "a.csv").write_text(CSV)
    with lutnas.Client(d.target, timeout=10) as c:
        err = _import_error(c, "a.csv\x00.ignored")  # cut at the NUL before the fix: a.csv imported
        assert err.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "path: contains a NUL byte" in str(err)


def test_every_path_outside_import_dir_gets_the_same_answer(import_daemon):
    d, root = import_daemon
    (root / "outside.csv").write_text(CSV)
    answers = set()
    with lutnas.Client(d.target, timeout=10) as c:
        for p in ("/etc/shadow", "/etc/passwd", "/no/such/file", str(root / "outside.csv"),
                  "../outside.csv", "../missing.csv", "a/../../../etc/shadow", "/"):
            err = _import_error(c, p)
            answers.add((err.code, str(err)))
        # Before the fix: PERMISSION_DENIED for /etc/shadow, NOT_FOUND for a missing path.
        assert len(answers) == 1, answers
        (code, msg), = answers
        assert code == grpc.StatusCode.PERMISSION_DENIED and "--import_dir" in msg
        inside_missing = _import_error(c, "missing.csv")
        assert inside_missing.code == grpc.StatusCode.NOT_FOUND


# ------------------------------------------------------------ bad values stored or accepted

def test_unordered_percentiles_are_refused_and_nothing_is_stored(client):
    hardware_with_table(client, "rel-pct")
    before = len(client.list_tables("rel-pct"))
    (info, entries) = client.export_table("rel-pct")
    e = entries[0]
    bad = T.LatencyEntry(key=e.key, median_ms=1.0, iqr_ms=0.1, p10_ms=1.5, p90_ms=0.5, samples=5,
                         status=T.ENTRY_MEASURED)
    with pytest.raises(lutnas.errors.LutnasError) as err:
        client.upload_table({"hardware": "rel-pct"}, [bad])
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "entries[0]: p10_ms: must be <= median_ms" in str(err.value)
    assert len(client.list_tables("rel-pct")) == before


@pytest.mark.parametrize("w", [50.0, 1e308, -1e308, 0.5, -11.0])
def test_soft_weight_outside_its_range_is_refused(client, w):
    spec = {**CHEAP_SPEC, "soft_constraint": True, "soft_weight": w}
    with pytest.raises(lutnas.errors.LutnasError) as err:
        client.submit(spec)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.soft_weight: must be in [-10, 0)" in str(err.value)


def test_soft_weight_in_range_is_accepted(client):
    job = client.submit({**CHEAP_SPEC, "soft_constraint": True, "soft_weight": -0.5})
    _, final = finish(client, job.id)
    assert final.state == S.JOB_SUCCEEDED, final.error


def _huge_arch():
    return {"name": "huge", "resolution": 1024,
            "stem": [{"conv": {"out_channels": 16384, "kernel": 3, "stride": 1}}],
            "stages": [{"blocks": [{"fused_mbconv": {"out_channels": 16384, "expansion": 8, "kernel": 7,
                                                     "stride": 1}}] * 100}],
            "head": {"num_classes": 10}}


def test_macs_that_do_not_fit_int64_are_refused(client):
    with pytest.raises(lutnas.errors.LutnasError) as err:
        client.predict(_huge_arch())  # macs=-3919538586839252992-like before the fix
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "arch.macs:" in str(err.value)
    ok = client.predict(tiny_arch())
    assert ok.macs > 0


# ------------------------------------------------------------ resource bounds

def test_queued_jobs_are_bounded(tmp_path):
    d = Daemon(tmp_path / "d", ["--max_queued_jobs", "2"]).start()
    try:
        with lutnas.Client(d.target, timeout=60) as c:
            running = c.submit(SLOW_SPEC)
            _first_progress_event(c, running.id)
            queued = [c.submit(CHEAP_SPEC), c.submit(CHEAP_SPEC)]
            with pytest.raises(lutnas.errors.LutnasError) as err:
                c.submit(CHEAP_SPEC)
            assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_queued_jobs" in str(err.value) and "limit 2" in str(err.value)
            c.cancel(queued[0].id)
            c.submit(CHEAP_SPEC)  # room again
            c.cancel(running.id)
    finally:
        d.kill()


def test_uploads_and_their_bytes_are_bounded(tmp_path):
    d = Daemon(tmp_path / "d", ["--max_uploads", "1", "--max_upload_mb", "1"]).start()
    ch, _, tables = _stubs(d)
    stop = threading.Event()

    def slow():
        yield S.UploadTableRequest(info=T.TableInfo(hardware="host-cpu"))
        stop.wait(30)

    try:
        held = tables.Upload.future(slow(), timeout=30)
        time.sleep(0.5)
        with lutnas.Client(d.target, timeout=10) as c:
            with pytest.raises(lutnas.errors.LutnasError) as err:
                c.upload_table({"hardware": "host-cpu"}, [])
            assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_uploads" in str(err.value)
            stop.set()
            held.cancel()
            time.sleep(0.3)
            # More than 1 MiB buffered: refused by the byte bound.
            entries = [T.LatencyEntry(key=f"k{i}", median_ms=1, samples=1, status=T.ENTRY_MEASURED,
                                      error="x" * 200) for i in range(8000)]
            with pytest.raises(lutnas.errors.LutnasError) as err:
                c.upload_table({"hardware": "host-cpu"}, entries)
            assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_upload_mb" in str(err.value)
            assert c.list_tables("host-cpu") == []
    finally:
        stop.set()
        ch.close()
        d.kill()


def test_watch_streams_are_bounded(tmp_path):
    d = Daemon(tmp_path / "d", ["--max_watch_streams", "2"]).start()
    ch, search, _ = _stubs(d)
    try:
        with lutnas.Client(d.target, timeout=60) as c:
            job = c.submit(SLOW_SPEC)
            streams = [search.Watch(S.WatchJobRequest(id=job.id), timeout=60) for _ in range(2)]
            for s in streams:
                next(s)  # open and serving
            third = search.Watch(S.WatchJobRequest(id=job.id), timeout=60)
            with pytest.raises(grpc.RpcError) as err:
                next(third)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_watch_streams" in err.value.details()
            streams[0].cancel()
            # The handler notices within its 0.5 s wait and frees its slot.
            deadline = time.monotonic() + 10
            while True:
                again = search.Watch(S.WatchJobRequest(id=job.id), timeout=60)
                try:
                    assert next(again).job.id == job.id
                    break
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert time.monotonic() < deadline, "the cancelled Watch never freed its slot"
                    time.sleep(0.2)
            again.cancel()
            streams[1].cancel()
            c.cancel(job.id)
    finally:
        ch.close()
        d.kill()


# ------------------------------------------------------------ daemon flags

def test_token_file_with_crlf_is_accepted(tmp_path):
    token = "crlf-token-0123456789abcdef"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    (tmp_path / "token").write_bytes(token.encode() + b"\r\n")  # a file saved on Windows
    d = Daemon(tmp_path / "d", ["--tls_cert", str(tmp_path / "cert.pem"), "--tls_key",
                                str(tmp_path / "key.pem"), "--token_file", str(tmp_path / "token")]).start()
    try:
        with lutnas.Client(d.target, root_certificates=str(tmp_path / "cert.pem"), token=token) as c:
            assert "host-cpu" in [h.name for h in c.list_hardware()]  # UNAUTHENTICATED before the fix
    finally:
        assert d.stop() == 0


def _listening_ports(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_listen_port_0_opens_one_port_the_port_file_names(daemon):
    assert _listening_ports(daemon.proc.pid) == {daemon.port}


def test_help_prints_usage_and_every_flag():
    res = subprocess.run([str(lutnasd_path()), "--help"], capture_output=True, text=True, timeout=30)
    out = res.stdout + res.stderr
    assert "SetProgramUsageMessage() never called" not in out
    assert "No flags matched" not in out
    assert "Usage: lutnasd" in out
    for flag in ("listen", "port_file", "db", "workers", "eval_threads", "import_dir", "tls_cert",
                 "tls_key", "token_file", "max_message_mb", "max_population", "max_evaluations",
                 "max_runtime_s", "max_queued_jobs", "max_uploads", "max_upload_mb",
                 "max_watch_streams", "max_import_mb", "import_deadline_s", "shutdown_grace_s",
                 "shutdown_timeout_s"):
        assert f"--{flag}" in out, flag


def test_cli_progress_shows_batches_inside_a_generation_with_eta():
    import io

    from lutnas import render

    def job(gen, evaluated, inside=0):
        j = S.Job(id=5, state=S.JOB_RUNNING)
        j.spec.population = 32
        j.progress.generation, j.progress.generations, j.progress.evaluated = gen, 2, evaluated
        j.progress.generation_evaluated, j.progress.generation_size, j.progress.eta_s = inside, 32, 23
        return j

    buf = io.StringIO()
    bar = render.PlainProgress("job 5", buf)
    for j in (job(0, 0), job(0, 0, 8), job(0, 32, 16)):
        bar.update(j)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3  # one line per batch event when piped, generation 0 included
    assert "[gen 0: 8/32 evaluated, ETA 23s]" in lines[1]
    assert "[gen 1: 16/32 evaluated" in lines[2] and " 25%" in lines[2]
