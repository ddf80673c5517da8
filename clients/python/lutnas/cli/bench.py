"""`lutnas bench-onnx` in the CLI: runs lutnas/measure/bench_onnx.py (which needs only
numpy and onnxruntime) in this Python if it has onnxruntime, else in one that
has: $LUTNAS_ORT_PYTHON, or the checkout's .venv/bin/python (scripts/bootstrap
installs the pinned onnxruntime there)."""

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

from ..measure.external import ExternalError

HERE = Path(__file__).resolve().parent
RUNNER = HERE.parent / "measure" / "bench_onnx.py"


class RunnerMissing(ExternalError):
    """No Python with onnxruntime was found."""


def ort_python() -> Optional[str]:
    """A Python that can import onnxruntime: None for this one, else its path."""
    if importlib.util.find_spec("onnxruntime") is not None:
        return None
    candidates: List[Path] = []
    if os.environ.get("LUTNAS_ORT_PYTHON"):
        candidates.append(Path(os.environ["LUTNAS_ORT_PYTHON"]))
    candidates.append(HERE.parents[3] / ".venv" / "bin" / "python")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise RunnerMissing("bench-onnx needs onnxruntime, which this Python cannot import and no "
                        "$LUTNAS_ORT_PYTHON or .venv/bin/python was found: pip install "
                        "onnxruntime (or run scripts/bootstrap)")


def cmd_bench_onnx(args: argparse.Namespace, client: Any = None) -> int:
    from ..measure import bench_onnx

    python = ort_python()
    if python is None:
        return bench_onnx.run(args, args.subparser.error)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = bench_onnx.to_argv(args)
    os.execv(python, [python, str(RUNNER), *argv])
    return 0  # not reached


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    from ..measure import bench_onnx  # argparse only: numpy/onnxruntime are imported when it runs

    c = sub.add_parser("bench-onnx", description=bench_onnx.DESCRIPTION,
                       help="time ONNX models with ONNX Runtime (warm-up, interleaved rounds, "
                            "drift reference), many per process")
    bench_onnx.add_arguments(c)
    c.set_defaults(func=cmd_bench_onnx, subparser=c)
    return c
