"""The PyTorch code lutnas generates: a written file runs and imports with
python3 (no line 1-2 may read as a PEP 263 encoding declaration), and no
name a client chooses can become a statement of it."""

import json
import subprocess
import sys

import pytest

import lutnas
from conftest import ROOT, finish, hardware_with_table, lutnasd_path, run_cli, tiny_arch
from lutnas.train import asktell
from lutnas.torch_export import check_generated

PB = lutnas.proto()
HW = "pytest-gencode"
PYTHON = "/usr/bin/python3"


def _runs(path):
    """Runs `python3 path` and imports it as a module from its folder."""
    r = subprocess.run([PYTHON, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    code = (f"import {path.stem} as m; net = m.build_model(); "
            "import torch; print(tuple(net(torch.zeros(*m.INPUT_SHAPE)).shape))")
    r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=path.parent,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def job(module_client):
    pytest.importorskip("torch")
    c = module_client
    hardware_with_table(c, HW)
    job = c.submit({"name": "pytest-gencode", "space": "tiny", "objective": "PARAMS",
                    "population": 4, "sample_size": 2, "generations": 1, "seed": 3,
                    "budgets": [{"hardware": HW, "max_ms": 10}]})
    _, final = finish(c, job.id, timeout=300)
    assert final.state == PB.service_pb2.JOB_SUCCEEDED, final.error
    return final


def test_cli_export_runs_and_imports(module_daemon, job, module_client, tmp_path):
    cand = next(module_client.iter_candidates(job_id=job.id))
    out = tmp_path / "exported_cli.py"
    code, _, err = run_cli(module_daemon.target, "export", str(cand.id), "-o", str(out))
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert all("coding" not in line for line in lines[:2]), lines[:2]
    assert _runs(out).strip() == "(1, 100)"


def test_client_export_written_to_a_file_runs(job, module_client, tmp_path):
    cand = next(module_client.iter_candidates(job_id=job.id))
    resp = module_client.export_candidate(cand.id)
    out = tmp_path / "exported_client.py"
    out.write_text(resp.content)
    assert _runs(out).strip() == "(1, 100)"


def test_inspect_pytorch_runs(tmp_path):
    pytest.importorskip("torch")
    inspect = lutnasd_path().parent / "lutnas-inspect"
    code = subprocess.run([str(inspect), str(ROOT / "models/mobilenet_v2.json"), "--pytorch"],
                          capture_output=True, text=True, check=True).stdout
    out = tmp_path / "exported_inspect.py"
    out.write_text(code)
    assert _runs(out).strip() == "(1, 1000)"


INJECTED = "x\nimport os; os.system('touch /tmp/lutnas-pwned')\n#"


def test_a_name_with_a_newline_is_refused_at_predict(module_client):
    with pytest.raises(lutnas.InvalidArgument, match=r"^arch\.name: control character 0x0a"):
        module_client.predict(tiny_arch(name=INJECTED))
    with pytest.raises(lutnas.InvalidArgument, match=r"^arch\.name: longer than 4096 bytes"):
        module_client.predict(tiny_arch(name="n" * (1 << 20)))
    with pytest.raises(lutnas.InvalidArgument, match=r"^archs\[1\]\.name: control character"):
        module_client.predict_batch([tiny_arch(), tiny_arch(name="a\rb")])
    req = PB.service_pb2.ExportCandidateRequest(
        arch=lutnas.to_message(tiny_arch(name=INJECTED), PB.arch_pb2.Architecture))
    with pytest.raises(lutnas.InvalidArgument, match=r"^arch\.name: control character"):
        module_client._unary(module_client._candidates.Export, req)


def test_an_inline_space_name_with_a_newline_is_refused_at_submit(module_client):
    space = lutnas.to_message(
        json.loads((ROOT / "search/spaces/tiny.json").read_text()),
        PB.space_pb2.SearchSpace)
    space.name = INJECTED
    with pytest.raises(lutnas.InvalidArgument, match=r"^spec\.space_inline\.name: control character"):
        module_client.submit({"space_inline": lutnas.to_dict(space), "unconstrained": True,
                              "objective": "PARAMS"})
    with pytest.raises(lutnas.InvalidArgument, match=r"^spec\.name: control character"):
        module_client.submit({"name": "a\nb", "space": "tiny", "unconstrained": True})


def test_check_generated_refuses_statements_lutnasd_does_not_write(module_client):
    code = asktell.export_arch(
        module_client, lutnas.to_message(tiny_arch(), PB.arch_pb2.Architecture))
    check_generated(code)  # the daemon's own output passes
    bad = code.replace("import torch\n", "import torch\nimport os; os.system('true')\n", 1)
    with pytest.raises(ValueError, match="does not generate; refusing to run it"):
        check_generated(bad)
    with pytest.raises(ValueError, match="does not parse"):
        check_generated("def (")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
