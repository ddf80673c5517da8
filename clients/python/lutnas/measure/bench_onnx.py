#!/usr/bin/env python3
"""`lutnas bench-onnx`: times ONNX models with ONNX Runtime the way
lutnas-profile times blocks, many models per process.

This file depends on nothing but the standard library, numpy and onnxruntime
(or openvino, for --runtime openvino),
so it runs on an ARM board after `pip install onnxruntime`: copy it there and
run `python3 bench_onnx.py MODEL.onnx [MODEL2.onnx ...]` (or, with the lutnas
client installed, `lutnas bench-onnx ...` / `python3 -m lutnas.measure.bench_onnx`).

Method (docs/measurement.md, as in latency_models/profiler.cc):
1. one session per model: CPU execution provider, fp32, --threads intra-op
   threads (default 1), 1 inter-op thread, sequential execution, every graph
   optimisation on (ORT_ENABLE_ALL: conv+bn+activation fusion etc.);
   random inputs of the model's fixed shape (a symbolic dim is taken as 1);
2. every model is run --warmup times untimed;
3. --rounds rounds; in each, a reference workload (a 3x3 convolution,
   32 channels, 56x56, built here as an ONNX graph: median of 7 runs) is timed
   first, then every model once (>= 3 runs and >= --min-ms, at most 40) in a
   freshly shuffled, seeded order, so slow drift spreads over all models;
4. every round's samples are scaled by reference_ms / that round's
   reference; reference_ms is measured once at the start, or given with
   --reference-ms (or $LUTNAS_REFERENCE_MS) so that several processes (the
   batches of `lutnas profile-external`) report in the same time units;
5. per model: median, IQR, p10, p90 over all samples; run_scaled_ms is the
   median of the unscaled samples scaled once by reference_ms / the median
   of all rounds' references (what per-round scaling did, for comparison).
Inputs and outputs are bound once to fixed buffers (IOBinding), so a run is
the model's compute, without a copy of its activations in and out.

--exclude-boundary-reorders (for blocks timed alone; networks are timed
without it): ONNX Runtime's NCHWc transformer (x86) wraps a lone conv block in
ReorderInput/ReorderOutput nodes at the model's own input and output, which
inside a network only the network's ends pay. One extra profiled session per
model (ONNX Runtime's own profiler, the optimised model it saves) gives those
nodes' share of a run, and every sample is scaled by 1 - share
(boundary_share= on the line; 0 where there are none, e.g. on ARM). With
--runtime openvino the same flag uses OpenVINO's per-node counters.

--runtime openvino times the same way through OpenVINO's Python API instead
(CPU plugin, fp32, 1 stream, --threads inference threads, latency hint; a
synchronous infer() computes on the calling thread, so --clock thread works as
with ONNX Runtime; outputs are shared, not copied); it needs openvino, not
onnxruntime. OpenVINO's own benchmark_app times wall-clock runs only, which a
shared host inflates (docs/notes/runtimes.md).

Output (stdout), one line per model, path last:
    median_ms=0.41 iqr_ms=0.012 p10_ms=0.4 p90_ms=0.43 samples=63 spread=0.073 run_scaled_ms=0.409 model=a.onnx
a model that cannot be loaded or run:
    error=INVALID_GRAPH: ... model=b.onnx
and `# tool: ...`, `# reference_ms: ...`, `# reference_drift: ...` lines.
With --json, one JSON object per model instead. Exit status 0 when every model
was measured, 1 when some failed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, NoReturn, Optional,
                    Sequence, Tuple, Union)

if TYPE_CHECKING:
    import numpy.typing as npt

TOOL = "bench-onnx 1"
REF_CHANNELS, REF_SIZE = 32, 56
MIN_SAMPLES, MAX_SAMPLES, REF_RUNS = 3, 40, 7


def _fatal(msg: str, code: int = 2) -> NoReturn:
    print(f"bench-onnx: {msg}", file=sys.stderr)
    sys.exit(code)


np: Any  # numpy, once _load() imported it
ort: Any  # onnxruntime, likewise
ov: Any  # openvino, for --runtime openvino
np = ort = ov = None  # imported by _load(): `lutnas --help` must not need them


def _load(runtime: str = "onnxruntime") -> None:
    global np, ort, ov
    if runtime == "openvino":
        if ov is not None:
            return
        try:
            import numpy
        except ImportError as e:
            _fatal(f"needs numpy ({e}); pip install numpy")
        try:
            import openvino
        except ImportError as e:
            _fatal(f"--runtime openvino: needs OpenVINO ({e}); pip install openvino")
        np, ov = numpy, openvino
        return
    if ort is not None:
        return
    try:
        import numpy
    except ImportError as e:  # the message is the point
        _fatal(f"needs numpy ({e}); pip install numpy")
    try:
        import onnxruntime
    except ImportError as e:
        _fatal(f"needs ONNX Runtime ({e}); pip install onnxruntime")
    np, ort = numpy, onnxruntime


# ------------------------------------------------------------ the reference workload
# A minimal ONNX model written as protobuf bytes by hand (the `onnx` package
# is not a dependency of onnxruntime, so it may be missing on the board).
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(num: int, v: int) -> bytes:
    return _varint(num << 3) + _varint(v)


def _bytes(num: int, payload: Union[str, bytes]) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _value_info(name: str, shape: Sequence[int]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    tensor_type = _int(1, 1) + _bytes(2, dims)  # elem_type FLOAT, shape
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _tensor(name: str, array: npt.NDArray[Any]) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.float32)
    return (b"".join(_int(1, d) for d in array.shape) + _int(2, 1) + _bytes(8, name)
            + _bytes(9, array.tobytes()))


def _ints_attr(name: str, values: Iterable[int]) -> bytes:
    return _bytes(1, name) + b"".join(_int(8, v) for v in values) + _int(20, 7)


def reference_model(channels: int = REF_CHANNELS, size: int = REF_SIZE) -> bytes:
    """ONNX bytes of Conv(channels -> channels, 3x3, pad 1) on 1xCxSxS."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * 0.05
    b = np.zeros(channels, dtype=np.float32)
    node = (_bytes(1, "x") + _bytes(1, "w") + _bytes(1, "b") + _bytes(2, "y") + _bytes(3, "conv")
            + _bytes(4, "Conv") + _bytes(5, _ints_attr("kernel_shape", (3, 3)))
            + _bytes(5, _ints_attr("pads", (1, 1, 1, 1))))
    shape = (1, channels, size, size)
    graph = (_bytes(1, node) + _bytes(2, "lutnas_reference") + _bytes(5, _tensor("w", w))
             + _bytes(5, _tensor("b", b)) + _bytes(11, _value_info("x", shape))
             + _bytes(12, _value_info("y", shape)))
    opset = _bytes(1, "") + _int(2, 13)
    return _int(1, 7) + _bytes(8, opset) + _bytes(7, graph)


def _fields(buf: bytes) -> Iterable[Tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message: ints for
    varint/fixed fields, bytes for length-delimited ones."""
    i, n = 0, len(buf)
    v: Any
    while i < n:
        tag, i = _read_varint(buf, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _read_varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"protobuf wire type {wt} is not supported")
        yield num, wt, v


def _read_varint(buf: bytes, i: int) -> Tuple[int, int]:
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7


def boundary_reorders(model: bytes) -> "set[str]":
    """Names of the layout reorders at an ONNX model's own inputs and outputs:
    ReorderInput nodes fed by a graph input, ReorderOutput nodes that write a
    graph output (ONNX Runtime's NCHWc transformer puts them there on x86:
    a block alone pays them, inside a network its neighbours' layout is
    already blocked). Read from the optimised model ONNX Runtime saves."""
    graph = next((v for num, wt, v in _fields(model) if num == 7 and wt == 2), b"")
    nodes: List[Tuple[str, str, List[str], List[str]]] = []
    ins: "set[str]" = set()
    outs: "set[str]" = set()
    for num, wt, v in _fields(graph):
        if num == 1 and wt == 2:
            f: Dict[int, List[Any]] = {}
            for n2, w2, v2 in _fields(v):
                if w2 == 2:
                    f.setdefault(n2, []).append(v2.decode(errors="replace"))
            nodes.append(((f.get(3) or [""])[0], (f.get(4) or [""])[0], f.get(1, []), f.get(2, [])))
        elif num in (11, 12) and wt == 2:
            name = next((v2.decode(errors="replace") for n2, w2, v2 in _fields(v)
                         if n2 == 1 and w2 == 2), "")
            (ins if num == 11 else outs).add(name)
    return {name for name, op, i, o in nodes
            if (op == "ReorderInput" and any(x in ins for x in i))
            or (op == "ReorderOutput" and any(x in outs for x in o))}


# ------------------------------------------------------------ sessions
NP_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
            "tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
            "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool_"}


def session_options(threads: int) -> Any:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


CLOCKS: Dict[str, Callable[[], float]] = {"wall": time.perf_counter, "thread": time.thread_time}


class Workload:
    """One model's session and inputs; run() is one timed inference.

    clock "wall": elapsed time (what a dedicated board shows); "thread": the
    calling thread's CPU time, which with 1 intra-op thread is where ONNX
    Runtime computes: time the OS gave to other processes is not counted,
    so a shared, overloaded host measures what an idle one would."""

    def __init__(self, model: Union[str, bytes], threads: int, name: Optional[str] = None,
                 clock: str = "wall", flush: Optional[npt.NDArray[Any]] = None,
                 hot_input: bool = False) -> None:
        if clock == "thread" and threads != 1:
            raise ValueError("--clock thread needs --threads 1 (other threads' time is not "
                             "counted)")
        self.clock = CLOCKS[clock]
        self.flush = flush  # written over before every timed run (see --flush-kib)
        self.hot_input = hot_input  # inputs rewritten after the flush (see --hot-input)
        self.name = name if name is not None else model
        self.sess = ort.InferenceSession(model, sess_options=session_options(threads),
                                         providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(1)
        self.feed: Dict[str, npt.NDArray[Any]] = {}
        for i in self.sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            if i.type not in NP_TYPES:
                raise ValueError(f"input {i.name}: type {i.type} is not supported")
            dtype = getattr(np, NP_TYPES[i.type])
            if np.issubdtype(dtype, np.floating):
                self.feed[i.name] = rng.standard_normal(shape).astype(dtype)
            else:
                self.feed[i.name] = np.zeros(shape, dtype=dtype)
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.samples: List[float] = []
        self.raw: List[float] = []  # unscaled
        self.inputs: List[npt.NDArray[Any]] = list(self.feed.values())
        # Inputs and outputs bound once to fixed buffers (as a C++ deployment
        # binds them): no per-run copy in or out, no Python conversion, so a
        # block's time is its compute, not the copy of its activations.
        outs = self.sess.run(self.outputs, self.feed)
        self.buffers = [np.ascontiguousarray(o) for o in outs]
        self.binding = self._bind(self.sess)

    def _bind(self, sess: Any) -> Any:
        """An IOBinding of sess to this workload's input arrays and output buffers."""
        binding = sess.io_binding()
        for name, arr in self.feed.items():
            binding.bind_cpu_input(name, arr)
        for name, buf in zip(self.outputs, self.buffers):
            binding.bind_output(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        return binding

    def run(self) -> float:
        clock, sess, binding = self.clock, self.sess, self.binding
        self.prepare()
        t0 = clock()
        sess.run_with_iobinding(binding)
        return (clock() - t0) * 1e3

    def boundary_share(self, model: Union[str, bytes], threads: int, runs: int = 20) -> float:
        """The share of a run that ONNX Runtime spends in the layout reorders
        at the model's own inputs and outputs (boundary_reorders): one
        profiled session of the same model, `runs` runs prepared as the timed
        ones, the reorders' kernel time over the runs' time. 0 when there
        are none (no NCHWc transformer: ARM, or no convolution)."""
        import tempfile
        with tempfile.TemporaryDirectory(prefix="lutnas-bench-") as d:
            so = session_options(threads)
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(d, "profile")
            so.optimized_model_filepath = os.path.join(d, "optimised.onnx")
            sess = ort.InferenceSession(model, sess_options=so,
                                        providers=["CPUExecutionProvider"])
            with open(so.optimized_model_filepath, "rb") as f:
                names = boundary_reorders(f.read())
            if names:
                binding = self._bind(sess)
                for _ in range(runs):
                    self.prepare()
                    sess.run_with_iobinding(binding)
            with open(sess.end_profiling()) as f:
                events = json.load(f)
        if not names:
            return 0.0
        kernels = {n + "_kernel_time" for n in names}
        total = sum(e.get("dur", 0) for e in events
                    if e.get("cat") == "Session" and e.get("name") == "model_run")
        bound = sum(e.get("dur", 0) for e in events
                    if e.get("cat") == "Node" and e.get("name") in kernels)
        return float(min(bound / total, 0.9)) if total > 0 else 0.0

    def prepare(self) -> None:
        """The cache state before a timed run: --flush-kib written over (one
        write per 64-byte line: the weights leave the cache), then with
        --hot-input the inputs rewritten in place, as the layer before a
        block has just written them inside a whole network."""
        if self.flush is not None:
            self.flush[::16] += 1.0
        if self.hot_input:
            for arr in self.inputs:
                np.multiply(arr, 1.0, out=arr)


OV_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
             "INFERENCE_PRECISION_HINT": "f32"}


class OvWorkload(Workload):
    """The same as Workload through OpenVINO (CPU plugin, 1 stream, latency hint).

    exclude_reorders: the layout conversions OpenVINO inserts at the model's
    own inputs and outputs (planar NCHW <-> its blocked/NHWC layouts: Reorder
    nodes next to a Parameter or a Result) are not counted: each run's time
    is scaled by the share of the other nodes in that run's profile
    (PERF_COUNT). A block timed alone pays them once per
    block, a whole network once (docs/notes/runtimes.md: 0.21 ms of a 0.32 ms
    block)."""

    def __init__(self, model: Union[str, bytes], threads: int, name: Optional[str] = None,
                 clock: str = "wall", flush: Optional[npt.NDArray[Any]] = None,
                 exclude_reorders: bool = False, hot_input: bool = False) -> None:
        self.clock = CLOCKS[clock]
        self.flush = flush
        self.hot_input = hot_input
        self.inputs = []
        self.name = name if name is not None else model
        core = ov.Core()
        if isinstance(model, bytes):
            import tempfile
            with tempfile.NamedTemporaryFile(suffix=".onnx", delete=False) as f:
                f.write(model)
            try:
                m = core.read_model(f.name)
            finally:
                os.unlink(f.name)
        else:
            m = core.read_model(model)
        cfg = dict(OV_CONFIG, INFERENCE_NUM_THREADS=str(threads))
        if exclude_reorders:
            cfg["PERF_COUNT"] = "YES"
        self.compiled = core.compile_model(m, "CPU", cfg)
        self.req = self.compiled.create_infer_request()
        self.boundary: "set[str]" = set()
        if exclude_reorders:
            for op in self.compiled.get_runtime_model().get_ordered_ops():
                rt = op.get_rt_info()
                if "layerType" not in rt or rt["layerType"].astype(str) != "Reorder":
                    continue
                ins = {i.get_source_output().get_node().get_type_name() for i in op.inputs()}
                outs = {t.get_node().get_type_name() for o in op.outputs()
                        for t in o.get_target_inputs()}
                if "Parameter" in ins or "Result" in outs:
                    self.boundary.add(op.get_friendly_name())
        rng = np.random.default_rng(1)
        for i, inp in enumerate(self.compiled.inputs):
            shape = [d.get_length() if d.is_static else 1 for d in inp.get_partial_shape()]
            arr = rng.standard_normal(shape).astype(np.float32)
            self.inputs.append(arr)  # the tensor shares it: rewriting it rewrites the input
            self.req.set_input_tensor(i, ov.Tensor(arr, shared_memory=True))
        self.samples = []
        self.raw = []

    def run(self) -> float:
        clock, req = self.clock, self.req
        self.prepare()
        t0 = clock()
        req.infer(share_outputs=True)
        ms = (clock() - t0) * 1e3
        if self.boundary:
            # the run's own profile says which share was boundary reorders;
            # a share (not a difference) because the profile's times are
            # elapsed, the clock's may be thread CPU time
            total = bound = 0.0
            for p in req.profiling_info:
                t = p.real_time.total_seconds()
                total += t
                if p.node_name in self.boundary:
                    bound += t
            if total > 0:
                ms *= 1.0 - bound / total
        return ms


def _median(xs: Sequence[float]) -> float:
    return percentile(xs, 50)


def percentile(xs: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of a non-empty list."""
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def time_workload(w: Workload, min_ms: float) -> List[float]:
    """One round's samples of w: >= MIN_SAMPLES runs and >= min_ms, <= MAX_SAMPLES."""
    out: List[float]
    out, total = [], 0.0
    while len(out) < MAX_SAMPLES and (len(out) < MIN_SAMPLES or total < min_ms):
        ms = w.run()
        out.append(ms)
        total += ms
    return out


def stats(samples: Sequence[float]) -> Dict[str, float]:
    med = _median(samples)
    p10, p90 = percentile(samples, 10), percentile(samples, 90)
    return {"median_ms": med, "iqr_ms": percentile(samples, 75) - percentile(samples, 25),
            "p10_ms": p10, "p90_ms": p90, "samples": len(samples),
            "spread": (p90 - p10) / med if med > 0 else 0.0}


def bench(models: Sequence[str], threads: int = 1, warmup: int = 3, rounds: int = 9,
          min_ms: float = 3.0, seed: int = 1, reference_ms: float = 0.0,
          progress: Optional[Callable[[str], None]] = None, clock: str = "wall",
          flush_kib: int = 0, runtime: str = "onnxruntime",
          exclude_reorders: bool = False,
          hot_input: bool = False) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Measures every model; returns (results, info). results: one dict per
    model, in order, with "model" and either the stats or "error"."""
    _load(runtime)
    def W(model: Union[str, bytes], threads: int, name: Optional[str] = None,
          clock: str = "wall", flush: Optional[npt.NDArray[Any]] = None) -> Workload:
        if runtime == "openvino":
            return OvWorkload(model, threads, name, clock, flush, exclude_reorders,
                              hot_input and flush is not None)
        return Workload(model, threads, name, clock, flush, hot_input and flush is not None)

    ref = W(reference_model(), threads, name="reference", clock=clock)
    flush = np.zeros(flush_kib * 256, dtype=np.float32) if flush_kib > 0 else None
    for _ in range(warmup + 2):
        ref.run()
    loaded: List[Workload]
    results: List[Dict[str, Any]]
    loaded, results = [], []
    for i, m in enumerate(models):
        try:
            w = W(m, threads, clock=clock, flush=flush)
            for _ in range(warmup):
                w.run()
        except Exception as e:  # noqa: BLE001 - a model that cannot run is that model's result
            msg = " ".join(str(e).split()) or type(e).__name__
            results.append({"model": m, "error": msg[:300]})
            continue
        loaded.append(w)
        results.append({"model": m, "workload": w})
        if progress and (i + 1) % 50 == 0:
            progress(f"loaded {i + 1}/{len(models)} models")
    measured_ref = _median([ref.run() for _ in range(2 * REF_RUNS + 1)])
    base = reference_ms if reference_ms > 0 else measured_ref
    rng = random.Random(seed)
    refs: List[float] = []
    for r in range(rounds):
        this_ref = _median([ref.run() for _ in range(REF_RUNS)])
        refs.append(this_ref)
        scale = base / this_ref
        order = list(loaded)
        rng.shuffle(order)
        for w in order:
            got = time_workload(w, min_ms)
            w.raw.extend(got)
            w.samples.extend(ms * scale for ms in got)
        if progress:
            progress(f"round {r + 1}/{rounds}")
    run_scale = base / _median(refs) if refs else 1.0
    for res in results:
        w = res.pop("workload", None)
        if w is not None:
            share = 0.0
            if exclude_reorders and runtime != "openvino":
                share = w.boundary_share(res["model"], threads)
                w.samples = [ms * (1.0 - share) for ms in w.samples]
                w.raw = [ms * (1.0 - share) for ms in w.raw]
            res.update(stats(w.samples))
            res["run_scaled_ms"] = _median(w.raw) * run_scale
            if exclude_reorders:
                res["boundary_share"] = share
    drift = max(refs) / min(refs) - 1 if refs else 0.0
    rt = (f"openvino {ov.__version__}, CPU plugin, fp32, 1 stream, {threads} thread"
          f"{'s' if threads != 1 else ''}, latency hint"
          + (", boundary reorders excluded" if exclude_reorders else "")
          if runtime == "openvino" else
          f"onnxruntime {ort.__version__}, CPUExecutionProvider, fp32, "
          f"{threads} intra-op thread{'s' if threads != 1 else ''}, graph optimisation all"
          + (", boundary reorders excluded" if exclude_reorders else ""))
    info = {"tool": (f"{TOOL} ({rt}, {clock} clock"
                     + (f", {flush_kib} KiB flushed per run" if flush_kib > 0 else "")
                     + (", inputs hot" if hot_input and flush_kib > 0 else "") + ")"),
            "reference_ms": base, "reference_measured_ms": measured_ref,
            "reference_drift": drift, "threads": threads, "rounds": rounds, "clock": clock}
    return results, info


def _line(res: Mapping[str, Any]) -> str:
    if "error" in res:
        return f"error={res['error']} model={res['model']}"
    return (f"median_ms={res['median_ms']:.6g} iqr_ms={res['iqr_ms']:.6g} "
            f"p10_ms={res['p10_ms']:.6g} p90_ms={res['p90_ms']:.6g} samples={res['samples']} "
            f"spread={res['spread']:.4g} run_scaled_ms={res['run_scaled_ms']:.6g} "
            + (f"boundary_share={res['boundary_share']:.4g} " if "boundary_share" in res else "")
            + f"model={res['model']}")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The runner's options (shared with `lutnas bench-onnx`)."""
    p.add_argument("models", nargs="+", metavar="MODEL.onnx")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per model (default 3)")
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    p.add_argument("--min-ms", type=float, default=3.0,
                   help="time per model per round, at least (default 3 ms)")
    p.add_argument("--seed", type=int, default=1, help="seed of the round orders")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall: elapsed time (default); thread: this thread's CPU time, for a "
                        "shared host (needs --threads 1)")
    p.add_argument("--reference-ms", type=float, default=None,
                   help="scale to this reference time (default $LUTNAS_REFERENCE_MS, else the "
                        "one measured at the start)")
    p.add_argument("--flush-kib", type=int, default=0, metavar="KIB",
                   help="write over this many KiB before every timed run (e.g. the L2 size), so "
                        "a block's weights are not cache-hot as they never are inside a whole "
                        "network (default 0: off)")
    p.add_argument("--hot-input", action="store_true",
                   help="with --flush-kib: rewrite the model's inputs after the flush, as the "
                        "layer before a block has just written them inside a network (its "
                        "weights stay cold); docs/notes/runtimes.md")
    p.add_argument("--runtime", choices=("onnxruntime", "openvino"), default="onnxruntime",
                   help="onnxruntime (default) or openvino (CPU plugin, 1 stream, latency hint)")
    p.add_argument("--exclude-boundary-reorders", action="store_true",
                   help="do not count the layout conversions the runtime adds at the model's "
                        "own inputs and outputs (OpenVINO's Reorders, ONNX Runtime's NCHWc "
                        "ReorderInput/ReorderOutput on x86): for blocks timed alone, whose "
                        "neighbours inside a network already have the blocked layout; whole "
                        "networks are timed without it")
    p.add_argument("--json", dest="runner_json", action="store_true",
                   help="one JSON object per model")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def to_argv(a: argparse.Namespace) -> List[str]:
    """The command line that gives the namespace a (to re-run it elsewhere)."""
    argv = ["--threads", str(a.threads), "--warmup", str(a.warmup), "--rounds", str(a.rounds),
            "--min-ms", repr(a.min_ms), "--seed", str(a.seed), "--clock", a.clock,
            "--flush-kib", str(a.flush_kib)]
    if getattr(a, "runtime", "onnxruntime") != "onnxruntime":
        argv += ["--runtime", a.runtime]
    if getattr(a, "exclude_boundary_reorders", False):
        argv.append("--exclude-boundary-reorders")
    if getattr(a, "hot_input", False):
        argv.append("--hot-input")
    if a.reference_ms is not None:
        argv += ["--reference-ms", repr(a.reference_ms)]
    if a.runner_json:
        argv.append("--json")
    if a.quiet:
        argv.append("--quiet")
    return argv + ["--"] + list(a.models)


DESCRIPTION = ("Times ONNX models with ONNX Runtime (CPU, fp32), or OpenVINO with --runtime "
               "openvino: warm-up, interleaved rounds, a reference workload for drift, "
               "median/IQR/p10/p90 per model. Needs only numpy and onnxruntime (or openvino).")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="bench-onnx", description=DESCRIPTION)
    add_arguments(p)
    return run(p.parse_args(argv), p.error)


def run(a: argparse.Namespace, error: Callable[[str], NoReturn]) -> int:
    """Runs the parsed options a; error(msg) reports a usage error (exits 2)."""
    p = argparse.Namespace(error=error)
    for name, v, lo in (("--threads", a.threads, 1), ("--warmup", a.warmup, 0),
                        ("--rounds", a.rounds, 1)):
        if v < lo:
            p.error(f"{name}: must be >= {lo}, got {v}")
    if not a.min_ms >= 0:
        p.error(f"--min-ms: must be >= 0, got {a.min_ms}")
    if not 0 <= a.flush_kib <= 1 << 20:
        p.error(f"--flush-kib: must be in 0..{1 << 20}, got {a.flush_kib}")
    if a.hot_input and a.flush_kib <= 0:
        p.error("--hot-input: needs --flush-kib (without a flush the inputs are hot already)")
    if a.clock == "thread" and a.threads != 1:
        p.error("--clock thread: needs --threads 1 (other threads' CPU time is not counted)")
    ref_ms = a.reference_ms
    if ref_ms is None:
        env = os.environ.get("LUTNAS_REFERENCE_MS", "")
        try:
            ref_ms = float(env) if env else 0.0
        except ValueError:
            p.error(f"$LUTNAS_REFERENCE_MS: not a number: {env!r}")
    if not (ref_ms >= 0 and ref_ms < float("inf")):
        p.error(f"--reference-ms: must be a positive number, got {ref_ms}")
    for m in a.models:
        if not os.path.isfile(m):
            p.error(f"{m}: no such file")
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        if not a.quiet:
            print(f"bench-onnx: {msg} ({time.monotonic() - t0:.0f} s)", file=sys.stderr,
                  flush=True)

    results, info = bench(a.models, a.threads, a.warmup, a.rounds, a.min_ms, a.seed, ref_ms,
                          progress, a.clock, a.flush_kib, a.runtime,
                          a.exclude_boundary_reorders, a.hot_input)
    if a.runner_json:
        for r in results:
            print(json.dumps(dict(r, **{k: info[k] for k in ("tool", "reference_ms")})))
    else:
        print(f"# tool: {info['tool']}")
        print(f"# reference_ms: {info['reference_ms']:.6g}")
        print(f"# reference_drift: {info['reference_drift']:.4f}")
        for r in results:
            print(_line(r))
    sys.stdout.flush()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
