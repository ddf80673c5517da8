"""EXTERNAL search trained on Ray (local, 2 CPUs) against the real daemon:
a worker killed mid-training loses nothing; its candidate is asked again
and every score is told once. Ray is installed in .venv (scripts/bootstrap),
so the Ray side runs there as a subprocess (ray_kill_driver.py)."""

import json
import os
import subprocess

import pytest

from conftest import PB, ROOT, finish, hardware_with_table

SVC = PB.service_pb2
VENV_PY = ROOT / os.environ.get("LUTNAS_VENV", ".venv") / "bin" / "python"


def external_job(client, hw, seed):
    return client.submit({"name": f"ray-{seed}", "space": "tiny", "objective": "EXTERNAL",
                          "population": 4, "sample_size": 2, "generations": 1, "seed": seed,
                          "budgets": [{"hardware": hw, "max_ms": 1e6}]})


def test_killed_worker_candidate_is_asked_again_and_told_once(module_client):
    pytest.importorskip("torch")
    if not VENV_PY.exists():
        pytest.fail(f"{VENV_PY} is missing: run scripts/bootstrap (it installs ray into .venv)")
    hardware_with_table(module_client, "ray-hw")
    job = external_job(module_client, "ray-hw", 1)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_DOCKER_CPU_WARNING="1")
    p = subprocess.run([str(VENV_PY), str(ROOT / "tests/python/ray_kill_driver.py"),
                        "--target", module_client.target, "--job", str(job.id)],
                       capture_output=True, text=True, timeout=170, env=env)
    assert p.returncode == 0, p.stderr[-4000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    print("ray driver timings (s):", out["seconds"])
    assert out["held"] and out["victim_died"] and not out["victim_alive"]
    surv = out["survivor"]
    # The killed worker's candidate went back and was asked again and told by the survivor.
    assert out["held"] in surv["hashes"]
    assert len(surv["hashes"]) == len(set(surv["hashes"])) == surv["told"]
    _, final = finish(module_client, job.id)
    assert final.state == SVC.JOB_SUCCEEDED, final.error
    cands = list(module_client.iter_candidates(job_id=job.id))
    # Every candidate scored once, by the survivor (the victim told nothing).
    assert sorted(c.arch_hash for c in cands) == sorted(surv["hashes"])
    assert all(0.0 <= c.score <= 1.0 for c in cands)
