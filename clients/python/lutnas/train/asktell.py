"""Driving an EXTERNAL-objective search with your own training, through
Ask/Tell: a worker loop that asks for one candidate, exports it as PyTorch
code, scores it (by default with lutnas.train.trainer on digits) and tells the
score back.

Safe with many workers and with workers that die: the daemon hands a
candidate out again once every pending one is out (oldest first), and accepts
its score once; a second Tell of the same arch_hash is NOT_FOUND, which the
loop counts as a duplicate instead of failing.

    from lutnas import Client, asktell
    with Client(addr) as c:
        job = c.submit({"space": "tiny", "objective": "EXTERNAL", "population": 8,
                        "generations": 1, "budgets": [{"hardware": "host-cpu", "max_ms": 50}]})
        stats = asktell.run_worker(c, job.id, asktell.digits_scorer(steps=40))
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from ..errors import FailedPrecondition, NotFound, Unavailable

TERMINAL = (3, 4, 5)  # JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED


def export_arch(client: Any, arch: Any, format: str = "pytorch", timeout: Optional[float] = None) -> str:
    """Generated code (or JSON) for an architecture given inline: a candidate
    from Ask has no id until its generation is committed."""
    req = client.pb.service_pb2.ExportCandidateRequest(format=format)
    req.arch.CopyFrom(arch)
    content: str = client._unary(client._candidates.Export, req, timeout).content
    return content


def digits_scorer(steps: int = 60, batch: int = 64, lr: float = 0.01, resolution: int = 32,
                  seed: int = 0, threads: int = 1) -> Callable[[str, Any], float]:
    """score(code, candidate) -> test accuracy on digits after a fixed budget."""
    from . import trainer

    def score(code: str, candidate: Any) -> float:
        return float(trainer.train(code, steps=steps, batch=batch, lr=lr, resolution=resolution,
                                   seed=seed, threads=threads)["accuracy"])
    return score


def run_worker(client: Any, job_id: int, score: Callable[[str, Any], float], max_candidates: int = 0,
               poll_s: float = 0.1, on_ask: Optional[Callable[[Any], None]] = None,
               log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Asks, scores and tells until the job ends (or max_candidates are told).

    score(code, candidate) -> float. on_ask(candidate), if given, is called
    after each Ask (tests use it to record what a worker held). Returns
    {"told": n, "duplicates": n, "asked": n, "hashes": [told arch hashes]}.
    """
    told, dups, asked = 0, 0, 0
    hashes: List[str] = []
    while not max_candidates or told < max_candidates:
        try:
            cands = client.ask(job_id, 1)
        except FailedPrecondition:  # the job ended (or is not EXTERNAL: re-raised below)
            job = client.get_job(job_id)
            if job.state in TERMINAL:
                break
            raise
        except Unavailable:  # queued, not running yet
            time.sleep(poll_s)
            continue
        if not cands:  # this generation's work is all told; the daemon steps on
            if client.get_job(job_id).state in TERMINAL:
                break
            time.sleep(poll_s)
            continue
        cand = cands[0]
        asked += 1
        if on_ask:
            on_ask(cand)
        code = export_arch(client, cand.arch)
        value = float(score(code, cand))
        try:
            client.tell(job_id, {cand.arch_hash: value})
            told += 1
            hashes.append(cand.arch_hash)
            if log:
                log(f"told {cand.arch_hash[:12]} = {value:.4f}")
        except NotFound:  # another worker told it first (it was handed out again)
            dups += 1
        except FailedPrecondition:
            if client.get_job(job_id).state in TERMINAL:
                break
            raise
    return {"told": told, "duplicates": dups, "asked": asked, "hashes": hashes}
