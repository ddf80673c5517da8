"""Fixtures for the Python client tests.

- `daemon` / `client`: a real lutnasd on port 0 with a fresh database under
  tmp_path, SIGTERMed at teardown (which must exit 0). `module_daemon` /
  `module_client`: one daemon shared by a test module. All skip when
  $LUTNAS_BUILD_DIR/bin/lutnasd (default build/) is not built.
- `fake`: an in-process gRPC server implementing the lutnas services with
  canned data, for unit tests of the client and CLI that need no daemon.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python"))

import lutnas  # noqa: E402

PB = lutnas.proto()
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def lutnasd_path():
    build = Path(os.environ.get("LUTNAS_BUILD_DIR", "build"))
    if not build.is_absolute():
        build = ROOT / build
    return build / "bin" / "lutnasd"


def load_json(relpath):
    with open(ROOT / relpath) as f:
        return json.load(f)


class Daemon:
    """One lutnasd process with its own database, port file and log."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.db = self.workdir / "lutnas.db"
        self.port_file = self.workdir / "lutnasd.port"
        self.log_path = self.workdir / "lutnasd.log"
        self.proc = None
        self.port = None

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def start(self):
        binary = lutnasd_path()
        if not binary.exists():
            pytest.skip(f"lutnasd is not built yet ({binary} missing; run scripts/bootstrap)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--listen", "127.0.0.1:0", "--port_file", str(self.port_file),
             "--db", str(self.db)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"lutnasd exited with {self.proc.returncode} before serving:\n"
                            + self.log_tail())
            port = self._read_port()
            if port:
                self.port = port
                return self
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        pytest.fail(f"lutnasd wrote no port file in {START_TIMEOUT_S}s:\n" + self.log_tail())

    def _read_port(self):
        try:
            text = self.port_file.read_text().strip()
        except OSError:
            return None
        try:
            return int(text.rsplit(":", 1)[-1])  # "PORT" (or "HOST:PORT")
        except ValueError:
            return None  # not fully written yet

    def stop(self):
        """SIGTERM; returns the exit code (kills after STOP_TIMEOUT_S)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"lutnasd ignored SIGTERM for {STOP_TIMEOUT_S}s:\n" + self.log_tail())


def _run_daemon(workdir):
    d = Daemon(workdir).start()
    try:
        yield d
    finally:
        rc = d.stop()
    assert rc == 0, f"lutnasd exited with {rc} on SIGTERM:\n" + d.log_tail()


@pytest.fixture
def daemon(tmp_path):
    yield from _run_daemon(tmp_path / "lutnasd")


@pytest.fixture
def client(daemon):
    with lutnas.Client(daemon.target, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def module_daemon(tmp_path_factory):
    yield from _run_daemon(tmp_path_factory.mktemp("lutnasd"))


@pytest.fixture(scope="module")
def module_client(module_daemon):
    with lutnas.Client(module_daemon.target, timeout=30) as c:
        yield c


# ------------------------------------------------------------------ fake
FAKE_CODE = '''
import torch.nn as nn
INPUT_SHAPE = (1, 3, 16, 16)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)
    def forward(self, x):
        return self.fc(self.pool(self.act(self.bn(self.conv(x)))).flatten(1))
def build_model():
    return Net()
'''
FAKE_CODE_PARAMS = 3 * 8 * 9 + 16 + 8 * 10 + 10


class FakeState:
    """What the fake server holds and what it saw (metadata, deadlines, requests)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.hardware = {"host-cpu": PB.table_pb2.Hardware(
            name="host-cpu", backend="libtorch-cpu", precision="fp32", threads=1,
            peak_gops=100, bandwidth_gbs=20, channel_alignment=1)}
        self.tables = {}  # hardware -> [LatencyTable]
        self.metadata = []   # per call: dict of invocation metadata
        self.deadlines = []  # per call: time_remaining() at entry
        self.upload_requests = []
        self.upload_cancelled = threading.Event()
        self.job_final_state = "JOB_SUCCEEDED"
        self.candidates = [self._candidate(i) for i in range(1, 24)]

    @staticmethod
    def _candidate(i):
        c = PB.service_pb2.Candidate(
            id=i, job_id=1, arch_hash=f"{i:016x}", score=float(1000 * i), params=1000 * i,
            macs=50000 * i, mac_bytes=4000 * i, feasible=i % 5 != 0, pareto=i % 4 == 0,
            generation=i % 3)
        c.arch.CopyFrom(PB.arch_pb2.Architecture(name=f"c{i}", resolution=16))
        c.arch.stem.add().conv.out_channels = 8
        c.arch.head.num_classes = 10
        c.latency.add(hardware="host-cpu", table_version=1, latency_ms=0.5 * i,
                      sum_ms=0.5 * i, measured_fraction=1.0 if i % 2 else 0.5)
        return c

    def note(self, context):
        with self.lock:
            self.metadata.append(dict(context.invocation_metadata()))
            self.deadlines.append(context.time_remaining())


def _servicers(state):
    g, s, t = PB.service_pb2_grpc, PB.service_pb2, PB.table_pb2

    class Hardware(g.HardwareServiceServicer):
        def Register(self, request, context):
            state.note(context)
            hw = request.hardware
            if not hw.name or not hw.name.replace("-", "").isalnum() or hw.name.lower() != hw.name:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"hardware.name: {hw.name!r} is not a valid name")
            if hw.name in state.hardware and not request.update:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"hardware {hw.name} exists")
            state.hardware[hw.name] = hw
            return hw

        def Get(self, request, context):
            state.note(context)
            if request.name not in state.hardware:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no hardware {request.name!r}")
            return state.hardware[request.name]

        def List(self, request, context):
            state.note(context)
            return s.ListHardwareResponse(hardware=list(state.hardware.values()))

        def Delete(self, request, context):
            state.note(context)
            if state.hardware.pop(request.name, None) is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no hardware {request.name!r}")
            return s.DeleteHardwareResponse()

    class Tables(g.TableServiceServicer):
        def Upload(self, request_iterator, context):
            state.note(context)
            reqs = []
            try:
                for r in request_iterator:
                    reqs.append(r)
            except Exception:
                state.upload_cancelled.set()
                raise
            if not context.is_active():  # the client broke the stream: store nothing
                state.upload_cancelled.set()
                return t.TableInfo()
            state.upload_requests.append(reqs)
            info = t.TableInfo()
            info.CopyFrom(reqs[0].info)
            entries = [e for r in reqs[1:] for e in r.entries]
            versions = state.tables.setdefault(info.hardware, [])
            info.version = len(versions) + 1
            info.entries = len(entries)
            info.failed = sum(e.status == t.ENTRY_FAILED for e in entries)
            versions.append(t.LatencyTable(info=info, entries=entries))
            return info

        def Import(self, request, context):
            state.note(context)
            from lutnas import tablefile

            _, entries = tablefile.read_csv(request.content.decode())
            info = t.TableInfo(hardware=request.hardware, source="import:csv")
            versions = state.tables.setdefault(request.hardware, [])
            info.version = len(versions) + 1
            info.entries = len(entries)
            msgs = [lutnas.to_message(e, t.LatencyEntry) for e in entries]
            versions.append(t.LatencyTable(info=info, entries=msgs))
            return s.ImportTableResponse(info=info, unmapped=["ofa-key-1"])

        def Export(self, request, context):
            state.note(context)
            versions = state.tables.get(request.hardware)
            if not versions:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no table for {request.hardware!r}")
            table = versions[(request.version or len(versions)) - 1]
            yield s.ExportTableChunk(info=table.info)
            for i in range(0, len(table.entries), 2):
                yield s.ExportTableChunk(entries=table.entries[i:i + 2])

        def List(self, request, context):
            state.note(context)
            out = [v.info for hw, vs in state.tables.items() for v in vs
                   if not request.hardware or hw == request.hardware]
            return s.ListTablesResponse(tables=out)

        def SetCorrection(self, request, context):
            state.note(context)
            info = state.tables[request.hardware][-1].info
            info.correction.CopyFrom(request.correction)
            return info

    class Predict(g.PredictServiceServicer):
        def _one(self, arch, hardware, breakdown, context):
            if arch.resolution < 8:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"arch.resolution: {arch.resolution} is not in 8..1024")
            r = s.PredictResponse(arch_hash="00ff00ff00ff00ff", params=3504872, macs=300774272,
                                  mac_bytes=70516838)
            for hw in hardware:
                if hw not in state.hardware:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"no hardware {hw!r}")
                p = r.predictions.add(hardware=hw, table_version=0, latency_ms=12.5, sum_ms=12.5,
                                      measured_fraction=0.0, estimated_from_spec=True)
                if breakdown:
                    p.blocks.add(where="stem[0]", key="conv:o32,k3,s2,g1,relu6@3x224x224",
                                 latency_ms=1.25, source=t.SOURCE_ROOFLINE)
                    p.blocks.add(where="head", key="head:c0,f0,n1000@320x7x7",
                                 latency_ms=11.25, source=t.SOURCE_ROOFLINE)
            return r

        def Predict(self, request, context):
            state.note(context)
            return self._one(request.arch, request.hardware, request.breakdown, context)

        def PredictBatch(self, request, context):
            state.note(context)
            return s.PredictBatchResponse(
                results=[self._one(a, request.hardware, False, context) for a in request.archs])

    class Search(g.SearchServiceServicer):
        def _job(self, state_name="JOB_QUEUED", gen=0):
            job = s.Job(id=1, state=s.JobState.Value(state_name), created_unix_ms=1700000000000)
            job.spec.CopyFrom(state.last_spec if hasattr(state, "last_spec") else s.SearchSpec(
                space="tiny", population=4, generations=2))
            job.progress.CopyFrom(s.Progress(generation=gen, generations=2, evaluated=4 * (gen + 1),
                                             feasible=3 * (gen + 1), best_score=10.0 * gen,
                                             pareto_size=gen + 1, elapsed_s=0.5 * gen))
            if state_name == "JOB_FAILED":
                job.error = "budget out of reach"
            return job

        def Submit(self, request, context):
            state.note(context)
            state.last_spec = request.spec
            return self._job()

        def Get(self, request, context):
            state.note(context)
            if request.id != 1:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.id}")
            return self._job(state.job_final_state, 2)

        def List(self, request, context):
            state.note(context)
            return s.ListJobsResponse(jobs=[self._job(state.job_final_state, 2)])

        def Watch(self, request, context):
            state.note(context)
            if request.id != 1:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.id}")
            yield s.JobEvent(job=self._job("JOB_RUNNING", 0))
            yield s.JobEvent(job=self._job("JOB_RUNNING", 1))
            yield s.JobEvent(job=self._job(state.job_final_state, 2))
            # A server that keeps the stream open after the end: the client
            # must stop by itself on the terminal state.
            while context.is_active():
                time.sleep(0.05)

        def Cancel(self, request, context):
            state.note(context)
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "job 1 already finished")

        def Ask(self, request, context):
            state.note(context)
            return s.AskResponse(candidates=state.candidates[:request.count])

        def Tell(self, request, context):
            state.note(context)
            state.told = dict(request.scores)
            return s.TellResponse(accepted=len(request.scores))

    class Candidates(g.CandidateServiceServicer):
        def List(self, request, context):
            state.note(context)
            cs = [c for c in state.candidates
                  if (not request.pareto_only or c.pareto)
                  and (not request.max_params or c.params <= request.max_params)]
            key = {"params": lambda c: c.params, "score": lambda c: c.score}.get(
                request.order_by, lambda c: c.id)
            cs.sort(key=key, reverse=request.descending)
            size = request.page_size or 50
            start = int(request.page_token or 0)
            page = cs[start:start + size]
            token = str(start + size) if start + size < len(cs) else ""
            return s.ListCandidatesResponse(candidates=page, next_page_token=token, total=len(cs))

        def Get(self, request, context):
            state.note(context)
            for c in state.candidates:
                if c.id == request.id:
                    full = s.Candidate()
                    full.CopyFrom(c)
                    full.latency[0].blocks.add(where="stem[0]", key="conv:o8,k3,s1,g1,relu@3x16x16",
                                               latency_ms=0.25, source=t.SOURCE_MEASURED)
                    return full
            context.abort(grpc.StatusCode.NOT_FOUND, f"no candidate {request.id}")

        def Export(self, request, context):
            state.note(context)
            if request.format in ("", "pytorch"):
                return s.ExportCandidateResponse(content=FAKE_CODE,
                                                 filename=f"candidate_{request.id}.py")
            if request.format == "json":
                c = state.candidates[request.id - 1]
                return s.ExportCandidateResponse(content=json.dumps(lutnas.to_dict(c.arch)),
                                                 filename=f"candidate_{request.id}.json")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"format: {request.format!r}")

    return Hardware(), Tables(), Predict(), Search(), Candidates()


class Fake:
    """A running fake server: .target, .state."""

    def __init__(self):
        self.state = FakeState()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        g = PB.service_pb2_grpc
        hw, tables, predict, search, cands = _servicers(self.state)
        g.add_HardwareServiceServicer_to_server(hw, self.server)
        g.add_TableServiceServicer_to_server(tables, self.server)
        g.add_PredictServiceServicer_to_server(predict, self.server)
        g.add_SearchServiceServicer_to_server(search, self.server)
        g.add_CandidateServiceServicer_to_server(cands, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self):
        self.server.stop(grace=None)


@pytest.fixture
def fake():
    f = Fake()
    try:
        yield f
    finally:
        f.stop()
