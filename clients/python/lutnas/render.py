"""Text output of the CLI: aligned tables, number formats, the job progress bar.

Plain functions over plain values, no gRPC: easy to test. The progress bar
uses `rich` when it is importable and stderr is a terminal; otherwise a
carriage-return bar on a terminal, or one line per generation when piped.
"""

import os
import sys
from typing import Any, Iterable, List, Optional, Sequence, Set, TextIO, Tuple, Union


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          right: Optional[Set[int]] = None) -> str:
    """Rows as aligned columns under a header. right: indexes right-aligned
    (default: columns whose every cell parses as a number)."""
    text_rows = [["" if c is None else str(c) for c in r] for r in rows]
    cols = len(headers)
    widths = [len(h) for h in headers]
    for r in text_rows:
        for i, c in enumerate(r[:cols]):
            widths[i] = max(widths[i], len(c))
    if right is None:
        right = {i for i in range(cols)
                 if text_rows and all(_numeric(r[i]) for r in text_rows)}
    align = right

    def line(cells: List[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if i in align else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(list(headers))] + [line(r) for r in text_rows])


def _numeric(cell: str) -> bool:
    cell = cell.replace(",", "").rstrip("kMGT%*").split(" ")[0]
    if cell in ("", "-"):
        return True
    try:
        float(cell)
        return True
    except ValueError:
        return False


def count(n: Union[int, float, str]) -> str:
    """Compact count: 950, 12.3k, 3.505M, 1.2G."""
    n = int(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.4g}{suffix}"
    return str(n)


def ms(x: float) -> str:
    return f"{x:.3f}"


def percent(fraction: float) -> str:
    return f"{100.0 * fraction:.0f}%"


def parse_count(text: str) -> int:
    """Inverse of count() for arguments: '2M', '500k', '1.5G', '123'."""
    text = text.strip()
    mult = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}.get(text[-1:], 1)
    body = text[:-1] if mult != 1 else text
    value = float(body) * mult
    if value < 0 or value != int(value):
        raise ValueError(f"not a whole non-negative count: {text!r}")
    return int(value)


# ----------------------------------------------------------- progress
def progress_fields(job: Any, default_population: int = 100,
                    default_generations: int = 20) -> Tuple[float, str, str]:
    """(fraction done, status text, state name) of a Job message's progress."""
    p, spec = job.progress, job.spec
    gens = p.generations or spec.generations or default_generations
    state = job.DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[job.state].name
    # Generations are the unit of progress: evaluations per generation vary
    # (repairs, repeats served from the engine's cache).
    if state == "JOB_SUCCEEDED":
        frac = 1.0
    else:
        frac = min(1.0, p.generation / gens) if gens else 0.0
    text = (f"gen {p.generation}/{gens}  eval {p.evaluated}  feasible {p.feasible}  "
            f"best {p.best_score:.6g}  pareto {p.pareto_size}  {p.elapsed_s:.1f}s")
    # Inside a generation (generation 0 included): one event per evaluated batch, with ETAs.
    inside, size = getattr(p, "generation_evaluated", 0), getattr(p, "generation_size", 0)
    if inside > 0 and state == "JOB_RUNNING":
        step = 0 if p.evaluated == 0 else p.generation + 1  # the generation being computed
        if gens and step > 0:  # generation g's children move the bar from (g-1)/gens to g/gens
            frac = min(1.0, (step - 1 + min(1.0, inside / max(1, size))) / gens)
        text += f"  [gen {step}: {inside}/{size} evaluated, ETA {p.eta_s:.0f}s]"
    return frac, text, state.replace("JOB_", "").lower()


def bar(fraction: float, width: int = 30) -> str:
    done = int(round(fraction * width))
    return "[" + "#" * done + "." * (width - done) + f"] {100 * fraction:3.0f}%"


class PlainProgress:
    """Progress on a plain stream: redraws with \\r on a terminal, else one
    line whenever the generation or state changes."""

    def __init__(self, label: str, stream: Optional[TextIO] = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last: Optional[Tuple[int, int, int]] = None
        self._width = 0

    def update(self, job: Any) -> None:
        frac, text, state = progress_fields(job)
        msg = f"{self.label} {state:<9} {bar(frac)}  {text}"
        if self.tty:
            pad = max(0, self._width - len(msg))
            self.stream.write("\r" + msg + " " * pad)
            self._width = len(msg)
        else:
            key = (job.progress.generation, job.state, getattr(job.progress, "generation_evaluated", 0))
            if key == self._last:
                return
            self._last = key
            self.stream.write(msg + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


class RichProgress:
    """The same through rich.progress (only built when rich imports)."""

    def __init__(self, label: str, stream: Optional[TextIO] = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr))
        self._progress.start()
        self._task = self._progress.add_task(label, total=1.0, info="")
        self.label = label

    def update(self, job: Any) -> None:
        frac, _, state = progress_fields(job)
        p = job.progress
        info = (f"gen {p.generation}/{p.generations}  best {p.best_score:.4g}  "
                f"pareto {p.pareto_size}")
        self._progress.update(self._task, completed=frac, info=info,
                              description=f"{self.label} {state}")

    def close(self) -> None:
        self._progress.stop()


def make_progress(label: str, stream: Optional[TextIO] = None
                  ) -> Union["PlainProgress", "RichProgress"]:
    stream = stream or sys.stderr
    if stream.isatty() and not os.environ.get("LUTNAS_NO_RICH"):
        try:
            return RichProgress(label, stream)
        except ImportError:
            pass
    return PlainProgress(label, stream)
