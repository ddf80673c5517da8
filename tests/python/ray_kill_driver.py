"""Run by test_ray_train.py with .venv/bin/python (Ray lives in the venv):
ray.init(num_cpus=2) locally; a worker asks a candidate of job --job and is
killed mid-training; a second worker then drives the job to its end; with
--job2, lutnas.train.ray_train.run then drives that job with two workers. Prints one JSON
object with what happened."""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from lutnas.train import ray_train as rt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--job", type=int, required=True)
    ap.add_argument("--job2", type=int, default=0)
    a = ap.parse_args()
    t0 = time.time()
    ray = rt.init(num_cpus=2)
    t_init = time.time() - t0
    W = rt.remote_worker_class()
    # The victim's budget is far longer than the test: it is surely mid-training when killed.
    victim = W.remote(a.target, a.job, steps=1_000_000, resolution=16)
    survivor = W.remote(a.target, a.job, steps=3, resolution=16)  # starts beside the victim, runs after
    ray.get(survivor.current.remote())
    vref = victim.run.remote()
    held = ""
    deadline = time.time() + 60
    while not held and time.time() < deadline:
        held = ray.get(victim.current.remote())["arch_hash"]
        time.sleep(0.05)
    vpid = ray.get(victim.current.remote())["pid"]
    time.sleep(0.5)  # training
    ray.kill(victim, no_restart=True)
    died = False
    try:
        ray.get(vref, timeout=30)
    except ray.exceptions.RayActorError:
        died = True
    victim_alive = True
    deadline = time.time() + 20  # ray.kill is asynchronous: the process goes shortly after
    while victim_alive and time.time() < deadline:
        try:
            os.kill(vpid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            victim_alive = False
    t_killed = time.time() - t0
    res = ray.get(survivor.run.remote(), timeout=120)
    t_survivor = time.time() - t0
    summary = None
    if a.job2:  # lutnas.train.ray_train.run with two fresh workers (about 30 s more here)
        summary = rt.run(a.target, a.job2, workers=2, steps=3, resolution=16, log=None)
    print(json.dumps({"held": held, "victim_died": died, "victim_pid": vpid, "victim_alive": victim_alive,
                      "survivor": res, "run2": summary, "seconds": {"init": t_init, "killed": t_killed, "survivor_done": t_survivor,
                                  "all": time.time() - t0}}))
    ray.shutdown()


if __name__ == "__main__":
    main()
