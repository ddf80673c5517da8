"""Training the candidates of an EXTERNAL-objective search on a Ray cluster.

lutnasd keeps the search (engine, database, latency tables) on one machine;
Ray actors anywhere ask it for a candidate, train it (lutnas.train.trainer, or
your own scorer) and tell the score back over gRPC. The daemon is the only
state: a worker that dies loses nothing but its current training, whose
candidate is handed out again; a score is accepted once (see lutnas.train.asktell).

Locally (what the tests do):

    import ray, lutnas.train.ray_train as rt
    ray.init(num_cpus=2)
    summary = rt.run("127.0.0.1:50051", job_id, workers=2, steps=60)

On a cluster (docs/scale.md): `ray start --head --port=6379` on the head,
`ray start --address=HEAD:6379` on each node, lutnasd listening where the
nodes can reach it (TLS + token off loopback), then
`rt.run("lutnasd-host:50051", job_id, workers=N, ray_address="HEAD:6379")`
or `lutnas ray-train JOB --server lutnasd-host:50051 --ray-address HEAD:6379`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

CLIENT_DIR = str(Path(__file__).resolve().parents[2])  # clients/python


def _require_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"this needs Ray, which is not importable ({e}); it is installed into "
                           ".venv by scripts/bootstrap (ray==2.60.0): run with .venv/bin/python"
                           ) from None
    return ray


def init(address: Optional[str] = None, num_cpus: Optional[int] = None, **kw: Any) -> Any:
    """ray.init with lutnas importable in every worker (PYTHONPATH carries
    clients/python: nothing is uploaded or downloaded)."""
    ray = _require_ray()
    if ray.is_initialized():
        return ray
    path = os.environ.get("PYTHONPATH", "")
    env = {"PYTHONPATH": CLIENT_DIR + (os.pathsep + path if path else "")}
    runtime_env = dict(kw.pop("runtime_env", {}) or {})
    runtime_env.setdefault("env_vars", {}).update(env)
    ray.init(address=address, num_cpus=num_cpus, runtime_env=runtime_env,
             include_dashboard=False, log_to_driver=kw.pop("log_to_driver", False), **kw)
    return ray


class TrainWorker:
    """One Ray actor: ask, train, tell until the job ends. current() (callable
    while run() works: the actor has two concurrency slots) says which
    candidate it holds."""

    def __init__(self, target: str, job_id: int, steps: int = 60, batch: int = 64, lr: float = 0.01,
                 resolution: int = 32, seed: int = 0, token: Optional[str] = None,
                 root_certificates: Any = None) -> None:
        import lutnas
        from lutnas.train import asktell
        self.client = lutnas.Client(target, token=token, root_certificates=root_certificates)
        self.job_id = job_id
        self.score = asktell.digits_scorer(steps=steps, batch=batch, lr=lr,
                                           resolution=resolution, seed=seed, threads=1)
        self.holding = ""
        self.pid = os.getpid()
        # Fail here, not at the first candidate, when torch or scikit-learn is missing on a
        # node; and build the dataset once per actor (it is cached per process).
        from lutnas.train import trainer
        trainer.digits(resolution)

    def current(self) -> Dict[str, Any]:
        return {"arch_hash": self.holding, "pid": self.pid}

    def run(self, max_candidates: int = 0) -> Dict[str, Any]:
        from lutnas.train import asktell

        def on_ask(c: Any) -> None:
            self.holding = c.arch_hash
        out = asktell.run_worker(self.client, self.job_id, self.score,
                                 max_candidates=max_candidates, on_ask=on_ask)
        self.holding = ""
        out["pid"] = self.pid
        return out


def remote_worker_class() -> Any:
    ray = _require_ray()
    return ray.remote(num_cpus=1, max_concurrency=2, max_restarts=0)(TrainWorker)


def run(target: str, job_id: int, workers: int = 2, ray_address: Optional[str] = None,
        replace_dead: bool = True, steps: int = 60, batch: int = 64, lr: float = 0.01,
        resolution: int = 32, seed: int = 0, token: Optional[str] = None, root_certificates: Any = None,
        log: Optional[Callable[[str], None]] = print) -> Dict[str, Any]:
    """Starts `workers` actors on job `job_id` of the lutnasd at `target` and
    waits for the job to end. A worker that dies (node lost, OOM, killed) is
    replaced when replace_dead. Returns {"told", "duplicates", "died",
    "workers": [per-worker results]}."""
    ray = init(address=ray_address)
    Worker = remote_worker_class()
    kw = dict(steps=steps, batch=batch, lr=lr, resolution=resolution, seed=seed, token=token,
              root_certificates=root_certificates)
    running: Dict[Any, Any] = {}
    for _ in range(workers):
        a = Worker.remote(target, job_id, **kw)
        running[a.run.remote()] = a
    results: List[Dict[str, Any]] = []
    died = 0
    t0 = time.time()
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        ref = done[0]
        actor = running.pop(ref)
        try:
            results.append(ray.get(ref))
        except ray.exceptions.RayActorError as e:
            died += 1
            if log:
                log(f"ray-train: a worker died ({type(e).__name__}); its candidate goes back to the daemon")
            if replace_dead:
                a = Worker.remote(target, job_id, **kw)
                running[a.run.remote()] = a
        del actor
    told = sum(r["told"] for r in results)
    dups = sum(r["duplicates"] for r in results)
    if log:
        log(f"ray-train: job {job_id}: {told} scores told by {len(results)} workers "
            f"({dups} duplicates refused, {died} workers died) in {time.time() - t0:.1f} s")
    return {"told": told, "duplicates": dups, "died": died, "workers": results}
