"""docs/python.md runs as written, and docs/python-api.md is current.

The tutorial's ```python blocks run top to bottom in one fresh interpreter
(Debian's python3, the client from the checkout, the repository as working
directory): it starts its own lutnasd, measures the tiny space's table on
this CPU, searches and measures the result, so it takes a few minutes."""

import os
import re
import subprocess
import sys
import time

from conftest import ROOT, lutnasd_path

import pytest

TUTORIAL = ROOT / "docs" / "python.md"


def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_tutorial_has_code_for_every_step():
    text = TUTORIAL.read_text()
    blocks = python_blocks(text)
    assert len(blocks) >= 8
    code = "\n".join(blocks)
    for call in ("Daemon(", "measure_table(", "validate(", "upload_table(", "submit(",
                 "watch(", "wait(", "iter_candidates(", "export_onnx(", "plot_pareto(",
                 "profile.measure("):
        assert call in code, f"the tutorial never calls {call}"


def test_the_tutorial_runs(tmp_path):
    if not lutnasd_path().exists():
        pytest.skip("lutnasd is not built")
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    script = tmp_path / "tutorial.py"
    script.write_text("\n\n".join(python_blocks(TUTORIAL.read_text())))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "clients" / "python"))
    env.setdefault("LUTNAS_BUILD_DIR", "build")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1500)
    took = time.monotonic() - t0
    print(r.stdout)
    print(f"tutorial: {took:.0f} s")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert re.search(r"^\d+ keys measured, e\.g\. ", out, re.M)
    assert "refused: spec.budgets[0].max_ms: no architecture of space 'tiny' meets the budget" in out
    assert re.search(r"^succeeded generation 3/3 ", out, re.M)
    assert re.search(r"^candidate #\d+: predicted [0-9.]+ ms, measured median [0-9.]+ ms \(IQR ",
                     out, re.M)
    assert "tutorial done in" in out


def test_the_api_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-python-api"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
