"""Pareto plots of a search job: score against predicted latency on one hardware.

pareto_front() is plain Python; plot_pareto() draws with matplotlib's Agg
backend (no display needed) and writes a PNG (or whatever the suffix says).
"""

from typing import Iterable, List, Optional, Sequence, Tuple


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indexes of the non-dominated points of [(latency, score), ...]:
    lower latency and higher score are better. Sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(points: Sequence[Tuple[float, float]], path: str, hardware: str,
                budget_ms: Optional[float] = None, title: str = "",
                infeasible: Iterable[int] = (), estimated: Iterable[int] = (),
                references: Iterable[Tuple[str, float]] = ()) -> List[int]:
    """Scatter of points [(latency_ms, score)], front highlighted and joined.

    infeasible: indexes drawn with a cross and left out of the front.
    estimated: indexes whose latency is partly estimated (keys missing from
    the table): ringed in orange, so a front point that rests on estimates
    stands out.
    budget_ms: a vertical dashed line. Returns the front's indexes.
    references: [(label, latency_ms)] of known networks (the zoo), drawn as
    labelled vertical dotted lines at their predicted latency.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bad = set(infeasible)
    ok = [i for i in range(len(points)) if i not in bad]
    front = [ok[j] for j in pareto_front([points[i] for i in ok])]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    try:
        xs = [points[i][0] for i in ok]
        ys = [points[i][1] for i in ok]
        ax.scatter(xs, ys, s=14, c="#9aa5b1", label=f"candidates ({len(ok)})", zorder=2)
        if bad:
            ax.scatter([points[i][0] for i in bad], [points[i][1] for i in bad], s=14,
                       marker="x", c="#d08770", label=f"infeasible ({len(bad)})", zorder=2)
        if front:
            fx = [points[i][0] for i in front]
            fy = [points[i][1] for i in front]
            ax.plot(fx, fy, "-", drawstyle="steps-post", c="#bf1e2e", lw=1.2, zorder=3)
            ax.scatter(fx, fy, s=30, c="#bf1e2e", label=f"Pareto front ({len(front)})", zorder=4)
        est = [i for i in estimated if i < len(points)]
        if est:
            ax.scatter([points[i][0] for i in est], [points[i][1] for i in est], s=70,
                       facecolors="none", edgecolors="#e08a00", linewidths=1.2,
                       label=f"latency partly estimated ({len(est)})", zorder=5)
        if budget_ms:
            ax.axvline(budget_ms, ls="--", c="#2e3440", lw=1,
                       label=f"budget {budget_ms:g} ms", zorder=1)
        for j, (label, ms) in enumerate(references):
            ax.axvline(ms, ls=":", c="#5e81ac", lw=1.2, zorder=1)
            ax.annotate(f"{label} {ms:.3g} ms", (ms, 0.98 - 0.06 * (j % 8)),
                        xycoords=("data", "axes fraction"), rotation=90, va="top",
                        ha="right", fontsize=7, color="#5e81ac")
        ax.set_xlabel(f"predicted latency on {hardware} (ms)")
        ax.set_ylabel("score (higher is better)")
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return front
