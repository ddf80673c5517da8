"""`lutnas profile-external`: a latency table measured by someone else's tool.

NPUs (RK3588 RKNN, Ascend ATC + ais_bench, TensorRT, Horizon, NNIE) cannot
run LibTorch, so lutnas-profile cannot time them; their users time an
exported model with the vendor's benchmark instead. For every key of a space
(or of a key list) this module

1. gets the key's PyTorch code from `lutnas-inspect --key KEY --pytorch`
   (it defines build_model() and INPUT_SHAPE, batch 1) and builds the module;
2. exports it to ONNX (torch.onnx.export, opset 13, fixed batch 1) and/or
   TorchScript (torch.jit.trace) in a temporary directory;
3. runs the user's command, shlex-split (no shell: wrap pipes in `sh -c`),
   with `{model}` replaced by the exported file of --format, `{onnx}` and
   `{torchscript}` by those files and `{key}` by the key; it inherits the
   environment plus LUTNAS_KEY and LUTNAS_MODEL;
4. captures stdout and stderr (a timeout kills the command's whole process
   group) and takes the latency in ms from the first group of the first
   match of --parse, searched in stdout, then stderr.

A key that fails (the export, a non-zero exit, the timeout, no match, a
latency that is not a positive number) becomes an entry with status failed
and a short error: the tool's last stderr line (else stdout's) or the reason.
Failures are data: never -1, never dropped. Progress and an ETA go to stderr.

The entries are uploaded as a new table version of --hardware (backend
"external", tool = the command, space = the space's name), or written as a
CSV with --out. A run in which every key failed uploads nothing.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence,
                    TextIO, Tuple, TypeVar, Union)

from .. import tablefile, tools
from .context import export_module

if TYPE_CHECKING:
    from ..client import Client
    from .keys import KeysRun

_PathLike = Union[str, "os.PathLike[str]"]
# One item's measurement: (latency ms or None, the runner's stats, error or None).
_Result = Tuple[Optional[float], Dict[str, float], Optional[str]]
_Item = TypeVar("_Item")

PLACEHOLDERS = ("{model}", "{onnx}", "{torchscript}", "{models}")
MANY = "{models}"  # an argument of its own: replaced by every model of a batch
DEFAULT_BATCH = 64
# Lines a runner may print to speak lutnas' measurement protocol (bench-onnx does):
TOOL_LINE = re.compile(r"^# tool: (.+)$", re.M)
REFERENCE_LINE = re.compile(r"^# reference_ms: ([0-9.eE+-]+)\s*$", re.M)
DRIFT_LINE = re.compile(r"^# reference_drift: ([0-9.eE+-]+)\s*$", re.M)
STAT_FIELDS: Dict[str, Callable[[Any], float]] = {"iqr_ms": float, "p10_ms": float, "p90_ms": float, "samples": int}
ERROR_CHARS = 300


class ExternalError(RuntimeError):
    """A problem with the whole run (bad command, regex, key list)."""


# ------------------------------------------------------------ inputs
def compile_parse(regex: str) -> "re.Pattern[str]":
    """The --parse regex, which must compile and have a group."""
    try:
        rx = re.compile(regex)
    except re.error as e:
        raise ExternalError(f"--parse: not a regular expression: {e}") from None
    if rx.groups < 1:
        raise ExternalError("--parse: needs a group around the latency, e.g. 'mean = ([0-9.]+) ms'")
    return rx


def command_template(command: str) -> List[str]:
    """The command as an argv template; checks it names the model somewhere."""
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ExternalError(f"--command: {e}") from None
    if not argv:
        raise ExternalError("--command: empty")
    if not any(p in a for a in argv for p in PLACEHOLDERS):
        raise ExternalError("--command: must contain {model} (or {onnx} / {torchscript}), "
                            "which is replaced by the exported model's path")
    if any(p in argv[0] for p in PLACEHOLDERS + ("{key}",)):
        raise ExternalError("--command: the program itself cannot be a placeholder")
    if any(MANY in a and a != MANY for a in argv):
        raise ExternalError("--command: {models} must be an argument of its own "
                            "(it becomes one argument per model)")
    if MANY in argv and any(p in a for a in argv for p in ("{model}", "{onnx}", "{torchscript}",
                                                          "{key}")):
        raise ExternalError("--command: {models} cannot be combined with {model}, {onnx}, "
                            "{torchscript} or {key} (they name one model)")
    if os.sep not in argv[0] and shutil.which(argv[0]) is None:
        raise ExternalError(f"--command: {argv[0]}: command not found")
    if os.sep in argv[0] and not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
        raise ExternalError(f"--command: {argv[0]}: not an executable file")
    return argv


def formats_needed(argv: Sequence[str], fmt: str) -> List[str]:
    """Export formats the command's placeholders refer to."""
    text = " ".join(argv)
    if MANY in argv:
        return [fmt]
    need: List[str] = []
    for f in ("onnx", "torchscript"):
        if "{" + f + "}" in text or ("{model}" in text and fmt == f):
            need.append(f)
    return need


def fill_many(argv: Sequence[str], paths: Sequence[str]) -> List[str]:
    """argv with the {models} argument replaced by every path."""
    out: List[str] = []
    for a in argv:
        out.extend(paths) if a == MANY else out.append(a)
    return out


def fill(argv: Sequence[str], files: Mapping[str, str], key: str) -> List[str]:
    """argv with the placeholders replaced (files: format -> path)."""
    subs = {"{key}": key}
    for f, path in files.items():
        subs["{" + f + "}"] = path
    subs["{model}"] = files.get("model", "")
    out: List[str] = []
    for a in argv:
        for p, v in subs.items():
            a = a.replace(p, v)
        out.append(a)
    return out


def slug(key: str) -> str:
    """A file-name-safe form of a key ("conv_o16_k3_s2_g1_relu_3x64x64")."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", key).strip("_")[:120]


def load_keys(space: Optional[_PathLike] = None, keys_file: Optional[_PathLike] = None,
              limit: int = 0) -> Tuple[List[str], str]:
    """(keys, space name): the keys of --keys-file if given, else of --space."""
    name = ""
    if space:
        name = _space_name(space)
    if keys_file:
        try:
            text = Path(keys_file).read_text()
        except OSError as e:
            raise ExternalError(f"{keys_file}: {e.strerror or e}") from None
        keys = tools.read_key_lines(text)
        tools.key_costs(keys)  # lutnas-inspect rejects invalid / non-canonical keys
        name = name or f"keys:{Path(keys_file).name}"
    elif space:
        keys = tools.space_keys(space)
    else:
        raise ExternalError("give --space or --keys-file")
    if not keys:
        raise ExternalError("no keys to measure")
    if limit:
        keys = keys[:limit]
    return keys, name


def _space_name(path: _PathLike) -> str:
    import json

    try:
        with open(path) as f:
            return json.load(f).get("name", "") or Path(path).stem
    except (OSError, ValueError) as e:
        raise ExternalError(f"{path}: {getattr(e, 'strerror', None) or e}") from None


# ------------------------------------------------------------ export
def export_code(code: str, workdir: str, formats: Iterable[str], stem: str) -> Dict[str, str]:
    """Exports the module lutnas-inspect's PyTorch code defines (build_model(),
    INPUT_SHAPE, batch 1); returns {format: path}. torch is imported once per
    process, so a batch of exports costs one export each, no process start."""
    from ..torch_export import load_module, require_torch

    require_torch()
    module = load_module(code, "lutnas_export")
    model = module.build_model()
    model.eval()
    shape = tuple(module.INPUT_SHAPE)
    if not shape or shape[0] != 1:
        raise ValueError(f"INPUT_SHAPE {shape} is not batch 1")
    return export_module(model, shape, workdir, formats, stem)


def export_key(key: str, workdir: str, formats: Iterable[str], stem: str) -> Dict[str, str]:
    """Exports one key's module; returns {format: path}. Raises on failure."""
    return export_code(tools.key_pytorch(key), workdir, formats, stem)


def export_failure(e: BaseException, formats: Iterable[str]) -> str:
    """The short error of an export that raised e."""
    if isinstance(e, tools.ToolError):
        return _short(f"export: {e}")
    return _short(f"export to {'/'.join(formats)} failed: {type(e).__name__}: {e}")


# ------------------------------------------------------------ running
def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 3] + "..."


def run_command(argv: Sequence[str], timeout: Optional[float],
                env: Optional[Mapping[str, str]] = None,
                on_stderr_line: Optional[Callable[[str], None]] = None
                ) -> Tuple[Optional[int], str, str]:
    """(returncode or None on timeout, stdout, stderr). The command runs in a
    session of its own; a timeout or an interrupt kills its process group.
    on_stderr_line(line) is called for every stderr line as it comes (the
    runner's progress)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env=env)
    def kill_group() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    if on_stderr_line is not None:
        return _run_streaming(proc, timeout, on_stderr_line, kill_group)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        kill_group()
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    except BaseException:  # Ctrl-C: its own session does not get the SIGINT, so end it here
        kill_group()
        proc.wait()
        raise


def _run_streaming(proc: "subprocess.Popen[bytes]", timeout: Optional[float],
                   on_line: Callable[[str], None],
                   kill_group: Callable[[], None]) -> Tuple[Optional[int], str, str]:
    """run_command with stderr read line by line on a thread of its own."""
    out: List[bytes]
    err: List[bytes]
    out, err = [], []

    def pump_err() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            err.append(raw)
            try:
                on_line(raw.decode(errors="replace").rstrip("\n"))
            except Exception:  # noqa: BLE001 - progress must never break a measurement
                pass

    def pump_out() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.read())

    threads = [threading.Thread(target=pump_err, daemon=True),
               threading.Thread(target=pump_out, daemon=True)]
    for t in threads:
        t.start()
    rc: Optional[int]
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group()
        proc.wait()
        rc = None
    except BaseException:
        kill_group()
        proc.wait()
        raise
    for t in threads:
        t.join()
    return rc, b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")


# A runner's progress line (bench-onnx without --quiet): "bench-onnx: round 3/9 (12 s)".
ROUND_LINE = re.compile(r"^\S+: round (\d+)/(\d+)\b")


UNITS = {"ms": 1.0, "us": 1e-3, "\u00b5s": 1e-3, "ns": 1e-6, "s": 1e3}


def _latency(m: "re.Match[str]") -> Tuple[Optional[float], Optional[str]]:
    """(ms, None) or (None, error) from a --parse match. A group named unit
    (ms, us, µs, ns, s) gives the unit of group 1 (benchmark_app prints "us"
    below 1 ms); without it group 1 is in ms."""
    text = m.group(1)
    try:
        ms = float(text)
    except (TypeError, ValueError):
        return None, _short(f"parsed latency {text!r} is not a number")
    unit = m.groupdict().get("unit")
    if unit is not None:
        if unit.strip() not in UNITS:
            return None, _short(f"parsed unit {unit!r} is none of {', '.join(UNITS)}")
        ms *= UNITS[unit.strip()]
    if not (ms > 0 and ms < float("inf")):
        return None, _short(f"parsed latency {text!r} is not a positive number")
    return ms, None


def _run_failure(rc: Optional[int], out: str, err: str, timeout: float) -> Optional[str]:
    """The error of a run that timed out or exited non-zero, else None."""
    said = _last_line(err) or _last_line(out)
    if rc is None:
        return _short(f"timed out after {timeout:g} s" + (f": {said}" if said else ""))
    if rc != 0:
        why = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
        return _short(f"{said} ({why})" if said else why)
    return None


def measure_one(argv: Sequence[str], rx: "re.Pattern[str]", timeout: float,
                env: Optional[Mapping[str, str]] = None) -> Tuple[Optional[float], Optional[str]]:
    """(latency_ms, None) or (None, error) for one filled-in command."""
    ms, err, _ = measure_one_output(argv, rx, timeout, env)
    return ms, err


def measure_one_output(argv: Sequence[str], rx: "re.Pattern[str]", timeout: float,
                       env: Optional[Mapping[str, str]] = None
                       ) -> Tuple[Optional[float], Optional[str], str]:
    """measure_one plus the command's stdout + stderr (for the tool's version)."""
    try:
        rc, out, err = run_command(argv, timeout, env)
    except OSError as e:
        return None, _short(f"{argv[0]}: {e.strerror or e}"), ""
    failure = _run_failure(rc, out, err, timeout)
    if failure:
        return None, failure, out + err
    m = rx.search(out) or rx.search(err)
    if not m:
        said = _last_line(err) or _last_line(out)
        return None, _short(f"no latency in the output (--parse {rx.pattern!r} did not match)"
                            + (f": {said}" if said else "")), out + err
    ms, error = _latency(m)
    return ms, error, out + err


def _line_stats(line: str) -> Dict[str, float]:
    """iqr_ms=, p10_ms=, p90_ms=, samples= fields of a runner's line (lutnas'
    protocol; a vendor tool prints none and gets zeros)."""
    got: Dict[str, float] = {}
    for name, kind in STAT_FIELDS.items():
        m = re.search(r"(?:^|\s)" + name + r"=([0-9.eE+-]+)", line)
        if m:
            try:
                got[name] = kind(float(m.group(1))) if kind is int else kind(m.group(1))
            except ValueError:
                pass
    return got


def measure_many(argv: Sequence[str], paths: Sequence[str], rx: "re.Pattern[str]", timeout: float,
                 env: Optional[Mapping[str, str]] = None,
                 on_stderr_line: Optional[Callable[[str], None]] = None
                 ) -> Tuple[List[_Result], str]:
    """Runs one command on many models: ([(ms, stats, error) per path], output).

    Each model's result is the line of stdout (else stderr) that names its
    path (or, failing that, its file name): --parse applied to that line, or
    the line's `error=...` text. A model without a line fails with the run's
    own failure (timeout, exit status) or "no output line"."""
    try:
        rc, out, err = run_command(fill_many(argv, paths), timeout, env, on_stderr_line)
    except OSError as e:
        return [(None, {}, _short(f"{argv[0]}: {e.strerror or e}"))] * len(paths), ""
    lines = [ln for ln in (out.splitlines() + err.splitlines()) if ln.strip()]
    failure = _run_failure(rc, out, err, timeout)
    results: List[_Result] = []
    for path in paths:
        line = next((ln for ln in lines if ln.rstrip().endswith(path)), None)
        if line is None:
            base = os.path.basename(path)
            line = next((ln for ln in lines if base in ln), None)
        if line is None:
            results.append((None, {}, failure or _short(
                f"no line naming {os.path.basename(path)} in the tool's output")))
            continue
        m = rx.search(line)
        if not m:
            # `e` is also the `except OSError as e` name above (mypy: misc)
            e = re.search(r"(?:^|\s)error=(.*?)(?:\s+model=.*)?$", line)  # type: ignore[misc]
            results.append((None, {}, _short(e.group(1) if e else  # type: ignore[misc]
                                             f"--parse {rx.pattern!r} did not match its line: "
                                             f"{line.strip()}")))
            continue
        ms, error = _latency(m)
        results.append((ms, _line_stats(line) if error is None else {}, error))
    return results, out + err


def measured_entry(key: str, ms: Optional[float],
                   stats: Optional[Mapping[str, float]] = None) -> Dict[str, Any]:
    stats = stats or {}
    return {"key": key, "median_ms": ms, "iqr_ms": stats.get("iqr_ms", 0.0),
            "p10_ms": stats.get("p10_ms", ms), "p90_ms": stats.get("p90_ms", ms),
            "samples": stats.get("samples", 1), "status": "ENTRY_MEASURED", "error": ""}


def failed_entry(key: str, error: Optional[str]) -> Dict[str, Any]:
    return {"key": key, "median_ms": 0.0, "iqr_ms": 0.0, "p10_ms": 0.0, "p90_ms": 0.0,
            "samples": 0, "status": "ENTRY_FAILED", "error": error or "failed"}


class Progress:
    """'[i/n] key: result  ETA m:ss' on stderr: one redrawn line on a
    terminal, one line per key otherwise."""

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.width = 0

    @staticmethod
    def clock(seconds: float) -> str:
        seconds = int(round(seconds))
        h, rest = divmod(seconds, 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"

    def update(self, done: int, key: str, result: str) -> None:
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (self.total - done) if done else 0.0
        self._show(f"[{done}/{self.total}] {key}: {result}  elapsed {self.clock(elapsed)}"
                   f"  ETA {self.clock(eta)}")

    def partial(self, done: float, what: str) -> None:
        """Progress inside a batch: `done` items' worth (fractional)."""
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (self.total - done) if done > 0 else 0.0
        self._show(f"[{done:.0f}/{self.total}] {what}  elapsed {self.clock(elapsed)}"
                   f"  ETA {self.clock(eta)}")

    def _show(self, msg: str) -> None:
        if self.tty:
            self.stream.write("\r" + msg + " " * max(0, self.width - len(msg)))
            self.width = len(msg)
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()


class Runner:
    """Runs --command on exported models in batches, one command per model
    ({model}) or one per batch ({models}), and keeps what the tool says of
    itself: its `# tool:` line (or --version-parse's match) and its
    `# reference_ms:` line, which later batches get as $LUTNAS_REFERENCE_MS so
    that every batch reports in the time units of the first."""

    def __init__(self, command: str, parse: str, fmt: str = "onnx", timeout: float = 300.0,
                 version_parse: Optional[str] = None) -> None:
        self.argv = command_template(command)
        self.rx = compile_parse(parse)
        self.fmt = fmt
        self.timeout = timeout
        self.many = MANY in self.argv
        self.formats = formats_needed(self.argv, fmt)
        self.version_rx: "Optional[re.Pattern[str]]" = None
        if version_parse:
            try:
                self.version_rx = re.compile(version_parse, re.M)
            except re.error as e:
                raise ExternalError(f"--version-parse: not a regular expression: {e}") from None
            if self.version_rx.groups < 1:
                raise ExternalError("--version-parse: needs a group around the version")
        self.tool_version = ""
        self.reference_ms = 0.0
        self.reference_drift: Optional[float] = None  # the largest a run reported (None: the tool reports none)

    def _learn(self, text: str) -> None:
        m: "Optional[re.Match[str]]"
        for m in DRIFT_LINE.finditer(text):
            try:
                d = float(m.group(1))
            except ValueError:
                continue
            self.reference_drift = d if self.reference_drift is None else max(d, self.reference_drift)
        if not self.tool_version:
            m = (self.version_rx or TOOL_LINE).search(text)
            if m:
                self.tool_version = " ".join(m.group(1).split())
        if not self.reference_ms:
            m = REFERENCE_LINE.search(text)
            if m:
                try:
                    self.reference_ms = max(0.0, float(m.group(1)))
                except ValueError:
                    pass

    def env(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        env = dict(os.environ, **(extra or {}))
        if self.reference_ms > 0:
            env["LUTNAS_REFERENCE_MS"] = repr(self.reference_ms)
        return env

    def run(self, items: Sequence[Tuple[str, Mapping[str, str]]],
            on_round: Optional[Callable[[int, int], None]] = None) -> List[_Result]:
        """items: [(key, files)] with files exported; [(ms, stats, error)].
        on_round(r, rounds): a many-models runner said it finished round r."""
        if self.many:
            paths = [files["model"] for _, files in items]
            env = self.env({"LUTNAS_MODEL": paths[0] if len(paths) == 1 else ""})

            def line(text: str) -> None:
                m = ROUND_LINE.match(text)
                if m and on_round is not None:
                    on_round(int(m.group(1)), int(m.group(2)))

            results, text = measure_many(self.argv, paths, self.rx,
                                         self.timeout * max(1, len(paths)), env,
                                         line if on_round is not None else None)
            self._learn(text)
            return results
        out: List[_Result] = []
        for key, files in items:
            env = self.env({"LUTNAS_KEY": key, "LUTNAS_MODEL": files["model"]})
            ms, err, text = measure_one_output(fill(self.argv, files, key), self.rx,
                                               self.timeout, env)
            self._learn(text)
            out.append((ms, {}, err))
        return out

    def tool(self, command: str) -> str:
        return f"{command} [{self.tool_version}]" if self.tool_version else command


def combine_repeats(results: Sequence[_Result]) -> _Result:
    """One item measured in several runs (processes, time windows): the
    median of the runs' medians, p10/p90/IQR the medians of theirs, samples
    summed, and `repeat_spread` = (max - min) / median of the runs' medians
    (process-to-process variation, which no run's own spread shows). Runs that
    failed are left out; an item no run measured keeps the first failure."""
    ok = [(ms, st) for ms, st, err in results if err is None and ms is not None]
    if not ok:
        return results[0]
    if len(ok) == 1 and len(results) == 1:
        return ok[0][0], ok[0][1], None

    med = statistics.median
    meds = [ms for ms, _ in ok]
    ms = med(meds)
    stats: Dict[str, float] = {}
    for k in ("iqr_ms", "p10_ms", "p90_ms"):
        vals = [st[k] for _, st in ok if k in st]
        if vals:
            stats[k] = med(vals)
    if all("samples" in st for _, st in ok):
        stats["samples"] = sum(st["samples"] for _, st in ok)
    stats["repeats"] = len(ok)
    stats["repeat_spread"] = (max(meds) - min(meds)) / ms if ms > 0 else 0.0
    return ms, stats, None


def run_batches(items: Sequence[_Item], runner: Runner, workdir: str,
                export: Callable[[_Item, str, List[str], str], Dict[str, str]],
                name_of: Callable[[_Item], str], batch: int = DEFAULT_BATCH,
                bar: Optional[Progress] = None,
                on_result: Callable[[_Item, Optional[float], Dict[str, float], Optional[str]], None]
                = None,  # type: ignore[assignment]  # always given; None is not a valid value
                repeats: int = 1) -> None:
    """Exports and measures items (keys or networks) batch by batch: the
    batch's exports, then the tool on them (`repeats` times, each a run of
    its own: combine_repeats). export(item, workdir, formats, stem) ->
    {format: path} raises on failure; on_result(item, ms, stats, error) is
    called per item, in order."""
    done = 0
    for b0 in range(0, len(items), batch):
        chunk = items[b0:b0 + batch]
        ready: List[Tuple[int, _Item, Dict[str, str]]]
        results: Dict[int, _Result]
        ready, results = [], {}
        for i, item in enumerate(chunk, b0 + 1):
            try:
                files = export(item, workdir, runner.formats, f"{i:04d}-{slug(name_of(item))}")
            except Exception as e:  # noqa: BLE001 - any export failure is this item's
                results[i] = (None, {}, export_failure(e, runner.formats))
            else:
                files["model"] = files.get(runner.fmt) or next(iter(files.values()))
                ready.append((i, item, files))
        rep = [0]

        def on_round(r: int, rounds: int, base: int = done, n: int = len(ready)) -> None:
            # a long batch of a runner that reports its rounds: progress inside the batch
            if bar and rounds > 0:
                frac = (rep[0] + min(r, rounds) / rounds) / repeats
                bar.partial(base + n * frac, f"batch of {n}: "
                            + (f"run {rep[0] + 1}/{repeats}, " if repeats > 1 else "")
                            + f"round {r}/{rounds}")

        try:
            if ready:
                runs = []
                for rep[0] in range(repeats):
                    runs.append(runner.run([(name_of(item), files) for _, item, files in ready],
                                           on_round))
                for j, (i, _, _) in enumerate(ready):
                    results[i] = combine_repeats([run[j] for run in runs])
        finally:
            for _, _, files in ready:
                for f in set(files.values()):
                    try:
                        os.unlink(f)
                    except OSError:
                        pass
        for i, item in enumerate(chunk, b0 + 1):
            ms, stats, err = results[i]
            on_result(item, ms, stats, err)
            done += 1
            if bar:
                bar.update(done, name_of(item), f"{ms:.4g} ms" if err is None
                           else f"failed: {err[:80]}")


def profile(keys: Sequence[str], command: str, parse: str, fmt: str = "onnx", timeout: float = 300.0,
            progress: bool = True, stream: Optional[TextIO] = None,
            entries: Optional[List[Dict[str, Any]]] = None, batch: int = DEFAULT_BATCH,
            runner: Optional[Runner] = None, repeats: int = 1) -> List[Dict[str, Any]]:
    """Measures keys with the command; returns one entry dict per key, in order.
    entries: a list to append to as keys finish (the caller keeps what was
    measured if the run is interrupted). runner: a Runner (it then also knows
    the tool's version and reference after the run)."""
    from ..torch_export import require_torch

    require_torch()  # TorchMissing once, not as every key's failure
    runner = runner or Runner(command, parse, fmt, timeout)
    bar = Progress(len(keys), stream) if progress else None
    entries = [] if entries is None else entries

    def on_result(key: str, ms: Optional[float], stats: Dict[str, float], err: Optional[str]) -> None:
        entries.append(measured_entry(key, ms, stats) if err is None else failed_entry(key, err))

    with tempfile.TemporaryDirectory(prefix="lutnas-external-") as workdir:
        try:
            run_batches(keys, runner, workdir, lambda *a: export_key(*a), lambda k: k, batch,
                        bar, on_result, repeats)
        finally:
            if bar:
                bar.close()
    return entries


def profile_in_context(keys: Sequence[str], runner: Runner, rounds: int = 2, max_rounds: int = 6,
                       time_cap_s: Optional[float] = None, k: int = 4, ref_every: int = 8,
                       target_ms: float = 0.0, progress: bool = True,
                       stream: Optional[TextIO] = None) -> "KeysRun":
    """Measures keys in context (lutnas.measure: each block repeated, or
    chained with a shape adapter whose context chain is subtracted; the
    entry block alone) in interleaved rounds normalised by a reference model,
    re-measuring keys whose halves disagree (see measure.keys.measure_plan).
    target_ms: express the times in these reference units (a table's)."""
    from .context import plan_keys
    from .keys import measure_plan
    from ..torch_export import require_torch

    require_torch()
    err_stream = stream or sys.stderr
    with tempfile.TemporaryDirectory(prefix="lutnas-context-") as workdir:
        def on_key(i: int, key: str) -> None:
            if progress and (i == 1 or i % 50 == 0 or i == len(keys)):
                print(f"exporting models: key {i}/{len(keys)}", file=err_stream)

        plan = plan_keys(keys, workdir, runner.formats, k, on_key=on_key)
        files = {name: dict(f, model=f.get(runner.fmt) or next(iter(f.values())))
                 for name, f in plan.files.items()}
        bar = Progress(1, err_stream) if progress else None

        def measure(names: Sequence[str]) -> List[Tuple[Optional[float], Optional[str]]]:
            res = runner.run([(n, files[n]) for n in names])
            return [(ms, err) for ms, _, err in res]

        def on_progress(what: str, done: int, total: int) -> None:
            if bar:
                bar.total = total
                bar.partial(done, f"{what}: {done}/{total} model runs")

        try:
            return measure_plan(plan, measure, rounds, max_rounds, time_cap_s, ref_every,
                                target_ms, on_progress=on_progress)
        finally:
            if bar:
                bar.close()


def merge_base(client: "Client", hardware: str) -> Optional[Tuple[Any, List[Any]]]:
    """(info message, entry messages) of the hardware's latest table version,
    or None when it has none: what a --keys-file run merges into."""
    from ..errors import NotFound

    try:
        table, entries = client.export_table(hardware, 0)
    except NotFound:
        return None
    return table.proto, [e.proto for e in entries]


def merged(base: Tuple[Any, Sequence[Any]], entries: Sequence[Mapping[str, Any]],
           command: str) -> Tuple[Any, List[Any]]:
    """base's info (its correction, reference and provenance kept; version
    and counts cleared; source "merge:profile-external") and base's entries
    with the newly measured keys replacing or joining them, in base's order
    then the new keys'."""
    info_pb, old = base
    info = type(info_pb)()
    info.CopyFrom(info_pb)
    for f in ("version", "created_unix_ms", "entries", "failed"):
        info.ClearField(f)
    info.source = "merge:profile-external"
    if command not in info.tool:
        info.tool = (info.tool + " + " if info.tool else "") + command
    new = {e["key"]: e for e in entries}
    out: List[Any] = [new.pop(e.key) if e.key in new else e for e in old]
    out.extend(new.values())
    return info, out


def resolve_method(method: str, command: str) -> str:
    """"auto": context for a tool that times one model per call ({model}, a
    black box); lone for a runner of many models per call ({models}: lutnas'
    bench-onnx protocol, which has its own rounds, reference and, for ONNX
    Runtime, --exclude-boundary-reorders)."""
    if method != "auto":
        return method
    return "lone" if MANY in command_template(command) else "context"


def table_info(hardware: str, command: str, space: str) -> Dict[str, Any]:
    return {"hardware": hardware, "backend": "external", "tool": command, "space": space,
            "source": "profile-external"}


def summary(entries: Sequence[Dict[str, Any]]) -> Tuple[int, List[Dict[str, Any]]]:
    failed = [e for e in entries if e["status"] == "ENTRY_FAILED"]
    return len(entries) - len(failed), failed


# ------------------------------------------------------------ the command
def cmd_profile_external(args: argparse.Namespace, client: "Client") -> int:
    """`lutnas profile-external` (see the module docstring)."""
    from ..client import to_dict

    command_template(args.command_line)  # a bad command or regex fails before any export
    compile_parse(args.parse)
    if args.limit < 0:
        raise ExternalError("--limit: must be >= 0")
    method = resolve_method(getattr(args, "method", "lone"), args.command_line)
    keys, space_name = load_keys(args.space, args.keys_file, args.limit)
    base = None
    if not args.out:
        client.get_hardware(args.hardware)  # NotFound before hours of measuring
        if args.keys_file and not getattr(args, "no_merge", False):
            base = merge_base(client, args.hardware)
    print(f"profile-external: {len(keys)} keys of {space_name or 'the key list'} on "
          f"{args.hardware}, {args.format} models, "
          + (f"in context (k={args.repeat_k}, {args.rounds} rounds)" if method == "context"
             else "each timed alone")
          + (f", merged into version {base[0].version}" if base else ""), file=sys.stderr)
    info = table_info(args.hardware, args.command_line, space_name)
    runner = Runner(args.command_line, args.parse, args.format, args.tool_timeout,
                    getattr(args, "version_parse", None))
    entries: List[Dict[str, Any]] = []
    if method == "context":
        target = base[0].reference_ms if base and base[0].reference_ms > 0 else 0.0
        run = profile_in_context(keys, runner, args.rounds, args.max_rounds, args.time_cap,
                                 args.repeat_k, target_ms=target)
        from .keys import details_of, entries_of, lone_entries_of

        entries = entries_of(run)
        info["tool"] = runner.tool(f"{args.command_line} [context k={args.repeat_k}]")
        info["reference_ms"] = run.target_ms
        refused = run.refused()
        if refused:
            print(f"refused {len(refused)} keys that did not reproduce (left out: predictions "
                  "estimate them and list them as missing; measure them again with --keys-file): "
                  + ", ".join(f"{e.key} (halves {e.half_a:.4g}/{e.half_b:.4g} ms)"
                              for e in refused[:20])
                  + (" ..." if len(refused) > 20 else ""), file=sys.stderr)
        print(f"rounds: {run.rounds.rounds} ({run.extra_rounds} extra for keys whose halves "
              f"disagreed), reference drift {100 * run.rounds.reference_drift():.0f}% "
              "(normalised, not refused)", file=sys.stderr)
        if getattr(args, "details", None):
            import json

            with open(args.details, "w") as f:
                json.dump(details_of(run), f, indent=1)
        if getattr(args, "lone_out", None):
            with open(args.lone_out, "w") as f:
                tablefile.write_csv(lone_entries_of(run), f, info=dict(
                    info, tool=runner.tool(f"{args.command_line} [context run, lone times]")))
    else:
        try:
            profile(keys, args.command_line, args.parse, args.format, args.tool_timeout,
                    entries=entries, batch=getattr(args, "batch", DEFAULT_BATCH), runner=runner,
                    repeats=getattr(args, "repeats", 1))
            info["tool"] = runner.tool(args.command_line)
            if runner.reference_ms > 0:
                info["reference_ms"] = runner.reference_ms
        except KeyboardInterrupt:
            if entries:
                path = _save_fallback(entries, info)
                print(f"interrupted after {len(entries)} of {len(keys)} keys; those are saved in "
                      f"{path}", file=sys.stderr)
            raise
    ok, failed = summary(entries)
    tail = f"{ok} measured, {len(failed)} failed"
    if args.out:
        with open(args.out, "w") as f:
            tablefile.write_csv(entries, f, info=info)
        print(f"wrote {args.out}: {len(entries)} entries ({tail})")
        return 0
    if ok == 0:
        path = _save_fallback(entries, info)
        raise ExternalError(f"every key failed (first: {failed[0]['error']}); nothing uploaded, "
                            f"entries saved to {path}")
    upload_info: Any = info
    upload_entries: Sequence[Any] = entries
    if base:
        upload_info, upload_entries = merged(base, entries, args.command_line)
    try:
        stored = client.upload_table(upload_info, upload_entries)
    except Exception:
        path = _save_fallback(entries, info)
        print(f"upload failed; the measured entries are saved in {path} "
              f"(lutnas table upload {path})", file=sys.stderr)
        raise
    if args.json:
        import json

        print(json.dumps(to_dict(stored), indent=1))
    else:
        print(f"uploaded {stored.hardware} version {stored.version}: {stored.entries} entries "
              f"({stored.failed} failed)" + (f"; {len(entries)} measured now, merged into "
                                             f"version {base[0].version} (its other keys and "
                                             "its correction kept)" if base else ""))
    return 0


def _save_fallback(entries: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> str:
    fd, path = tempfile.mkstemp(prefix=f"lutnas-external-{info['hardware']}-", suffix=".csv")
    with os.fdopen(fd, "w") as f:
        tablefile.write_csv(entries, f, info=info)
    return path


DESCRIPTION = """\
Measures a latency table with your benchmark tool: every key of --space (or
--keys-file) is exported as ONNX (opset 13, batch 1) or TorchScript, --command
runs on it ({model} -> the exported file; also {onnx}, {torchscript}, {key}),
and --parse's first group is the latency in ms. A tool that takes many models
per run gets {models} (one argument per model of a --batch); its output line
naming a model's path is that model's result (lutnas bench-onnx prints such
lines, with iqr_ms/p10_ms/p90_ms/samples, and a reference for drift). A key the tool cannot compile
or run is stored as failed with the tool's last message line. The table is
uploaded as a new version of --hardware (or written to --out)."""

EPILOG = """\
examples:
  lutnas profile-external --space search/spaces/edge.json --hardware nvidia-t4 \\
      --command 'trtexec --onnx={model} --int8' --parse 'mean = ([0-9.]+) ms'
  lutnas profile-external --space search/spaces/edge.json --hardware rk3588-npu \\
      --command 'ssh rk3588 ./bench_one.sh {model}' --parse 'Avg.*?([0-9.]+) ?ms'
  lutnas profile-external --space search/spaces/edge.json --hardware host-ort \\
      --command '.venv/bin/python -m lutnas.measure.bench_onnx {models}' --parse 'median_ms=([0-9.e+-]+)'
  lutnas profile-external --space search/spaces/edge.json --hardware host-openvino \\
      --command '.venv/bin/benchmark_app -m {model} -d CPU -load_config ov.json -api sync -t 1' \\
      --parse 'Median: +([0-9.]+) (?P<unit>ms|us)' --version-parse 'Build \\.+ (\\S+)'
The command runs without a shell: use sh -c '...' for pipes."""


def _int_in(text: str, lo: int, hi: int) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not lo <= n <= hi:
        raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {n}")
    return n


def _repeats(text: str) -> int:
    return _int_in(text, 1, 20)


def _batch_size(text: str) -> int:
    return _int_in(text, 1, 4096)


def _k(text: str) -> int:
    return _int_in(text, 2, 16)


def _rounds(text: str) -> int:
    return _int_in(text, 2, 50)


def add_context_flags(c: argparse.ArgumentParser) -> None:
    """--method, --rounds, --max-rounds, --time-cap, --repeat-k."""
    c.add_argument("--method", choices=("auto", "context", "lone"), default="auto",
                   help="auto (default): context for a {model} command, lone for a {models} "
                        "runner (lutnas bench-onnx's own protocol); "
                        "context: each block timed inside a chain of its own repeats "
                        "(or with a shape adapter whose own chain is subtracted), so the per-run "
                        "overhead and boundary reorders of a lone model cancel, in interleaved "
                        "rounds normalised by a reference model; lone: each block timed alone "
                        "once per --repeats (the older method)")
    c.add_argument("--rounds", type=_rounds, default=2, metavar="N",
                   help="(context) rounds of every model, at least 2 (default 2)")
    c.add_argument("--max-rounds", type=_rounds, default=6, metavar="N",
                   help="(context) keys whose odd- and even-round halves disagree by more than "
                        "10%% are re-measured up to this many rounds (default 6)")
    c.add_argument("--time-cap", type=float, default=None, metavar="S",
                   help="(context) seconds the re-measuring may take (default: as long as the "
                        "first rounds)")
    c.add_argument("--repeat-k", type=_k, default=4, metavar="K",
                   help="(context) repeats of a block in its chain (default 4)")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", json_flag: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Adds `profile-external` to the CLI's subparsers."""
    c = sub.add_parser(
        "profile-external",
        help="measure a table with a vendor tool on exported ONNX/TorchScript models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION, epilog=EPILOG)
    c.add_argument("--space", metavar="SPACE.json", help="measure every key of this space")
    c.add_argument("--keys-file", metavar="F",
                   help="measure these keys instead (one per line, '#' comments)")
    c.add_argument("--hardware", required=True, metavar="NAME")
    c.add_argument("--command", dest="command_line", required=True, metavar="'TOOL {model}'",
                   help="benchmark command; {model}, {onnx}, {torchscript}, {key} are replaced")
    c.add_argument("--parse", required=True, metavar="REGEX",
                   help="regex whose first group is the latency in ms")
    c.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                   help="what {model} is (default onnx)")
    c.add_argument("--timeout", dest="tool_timeout", type=float, default=300.0, metavar="S",
                   help="seconds per key before the command is killed (default 300)")
    c.add_argument("--batch", type=_batch_size, default=DEFAULT_BATCH, metavar="N",
                   help=f"models exported per batch; with {{models}}, per command "
                        f"(default {DEFAULT_BATCH})")
    c.add_argument("--repeats", type=_repeats, default=1, metavar="N",
                   help="measure every batch N times, each a run of its own, and keep the median "
                        "of the runs' medians (a shared host or a board whose speed moves between "
                        "runs; default 1)")
    c.add_argument("--version-parse", metavar="REGEX",
                   help="regex whose first group, in the tool's output, is its version (kept "
                        "in the table's tool field; default: a '# tool: ...' line)")
    add_context_flags(c)
    c.add_argument("--no-merge", action="store_true",
                   help="with --keys-file: store only these keys as the new version instead of "
                        "merging them into the latest one (default: merge, keeping its other "
                        "keys and its correction)")
    c.add_argument("--details", metavar="FILE.json",
                   help="(context) write every key's halves, lone time and method")
    c.add_argument("--lone-out", metavar="FILE.csv",
                   help="(context) also write the same run as a table of lone-model times "
                        "(today's method) for comparison")
    c.add_argument("--out", metavar="FILE.csv", help="write a CSV instead of uploading")
    c.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N keys")
    json_flag(c)
    c.set_defaults(func=cmd_profile_external, subparser=c)
    return c
