"""Issue 15's zoo against torchvision itself (Debian's python3-torchvision,
weights=None), the YOLOv8n backbone against ultralytics' published per-layer
parameters, the exported PyTorch/ONNX code of the new blocks, and, through the
real daemon, a search seeded from a zoo model and `lutnas plot --zoo`.

MACs of a torchvision model: forward hooks on every Conv2d (output elements x
in_channels/groups x kh x kw) and Linear (in x out), batch 1 - the same
definition lutnas's cost analysis uses (conv + linear multiply-accumulates).
"""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, finish, spec_hardware
from lutnas_testkit import build_dir

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from lutnas import torch_export  # noqa: E402
from lutnas.errors import InvalidArgument  # noqa: E402

TV_MODELS = {  # zoo name: input resolution
    "mobilenet_v3_large": 224, "mobilenet_v3_small": 224, "efficientnet_b0": 224,
    "efficientnet_b1": 240, "regnet_y_400mf": 224, "regnet_y_800mf": 224,
}


def inspect(*args):
    res = subprocess.run([str(build_dir() / "bin" / "lutnas-inspect"), *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def tv_macs(model, shape):
    total = [0]

    def hook(mod, _inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out[0].numel() * (mod.in_channels // mod.groups) * k
        else:
            total[0] += mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_zoo_files_are_what_gen_zoo_writes():
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_zoo.py"), "--check"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr + res.stdout


@pytest.mark.parametrize("name", sorted(TV_MODELS))
def test_zoo_model_matches_torchvision(name):
    r = TV_MODELS[name]
    tv = getattr(torchvision.models, name)(weights=None)
    want_params, want_macs = n_params(tv), tv_macs(tv, (3, r, r))
    cost = json.loads(inspect(ROOT / "models" / f"{name}.json", "--json"))
    assert cost["params"] == want_params
    assert abs(cost["macs"] - want_macs) <= 0.002 * want_macs, (cost["macs"], want_macs)
    # The exported PyTorch module (the code the daemon's Export returns, what
    # ONNX export runs) has torchvision's parameter count and output.
    model, shape = torch_export.build_model(inspect(ROOT / "models" / f"{name}.json",
                                                    "--pytorch"), f"zoo_{name}")
    assert shape == (1, 3, r, r)
    assert n_params(model) == want_params
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 3, 64, 64)).shape) == (1, 1000)


def test_yolov8n_backbone_params_and_feature_maps(tmp_path):
    path = ROOT / "models" / "yolov8n_backbone.json"
    cost = json.loads(inspect(path, "--json"))
    # ultralytics' model summary of yolov8n.yaml, layers 0-9 (464 | 4672 + 7360 |
    # 18560 + 49664 | 73984 + 197632 | 295424 + 460288 | 164608).
    assert [b["params"] for b in cost["blocks"]] == [464, 12032, 68224, 271616, 755712,
                                                     164608, 0]
    assert cost["params"] == 1272656
    code = inspect(path, "--pytorch")
    model, shape = torch_export.build_model(code, "zoo_yolo")
    assert shape == (1, 3, 640, 640)
    assert n_params(model) == 1272656
    with torch.no_grad():
        outs = model(torch.zeros(1, 3, 384, 640))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 48, 80), (1, 128, 24, 40),
                                              (1, 256, 12, 20)]
    onnx = tmp_path / "yolo.onnx"
    assert torch_export.export_onnx(code, str(onnx), name="zoo_yolo_onnx") == (1, 3, 640, 640)
    data = onnx.read_bytes()
    # Batch norms fold into the convs; the conv weights (fp32) stay.
    assert len(data) > 4 * 1200000
    for name in (b"features0", b"features1", b"features2"):
        assert name in data


def test_bad_zoo_style_arch_is_invalid_argument_naming_the_field(module_client):
    c = module_client
    c.register_hardware(spec_hardware("pytest-zoo-bad"))
    arch = json.loads((ROOT / "models" / "efficientnet_b0.json").read_text())
    arch["stages"][1]["blocks"][0]["mbconv"]["se_options"]["ratio"] = 2.0
    with pytest.raises(InvalidArgument) as e:
        c.predict(arch, hardware=["pytest-zoo-bad"])
    assert "arch.stages[1].blocks[0].mbconv.se_options.ratio: must be in (0, 1], got 2" \
        in str(e.value)


def test_predict_every_new_zoo_model(module_client):
    c = module_client
    c.register_hardware(spec_hardware("pytest-zoo-pred"))
    for name in [*TV_MODELS, "yolov8n_backbone"]:
        arch = json.loads((ROOT / "models" / f"{name}.json").read_text())
        resp = c.predict(arch, hardware=["pytest-zoo-pred"], breakdown=True)
        cost = json.loads(inspect(ROOT / "models" / f"{name}.json", "--json"))
        assert resp.arch_hash == cost["hash"]
        assert resp.params == cost["params"]
        (p,) = resp.predictions
        assert p.latency_ms > 0
        assert len(p.blocks) == len(cost["blocks"])


def test_search_seeded_from_mobilenet_v3_large(module_client, tmp_path):
    c = module_client
    hw = "pytest-zoo-seed"
    c.register_hardware(spec_hardware(hw))
    mb = json.loads((ROOT / "models" / "mobilenet_v3_large.json").read_text())
    want = json.loads(inspect(ROOT / "models" / "mobilenet_v3_large.json", "--json"))["hash"]
    spec = {"name": "pytest-zoo-seed", "space": "mbv3", "objective": "PARAMS",
            "population": 6, "sample_size": 3, "generations": 1, "seed": 3,
            "max_params": 20_000_000, "report_hardware": [hw], "seed_architectures": [mb]}
    job = c.submit(spec)
    _, final = finish(c, job.id)
    assert final.error == ""
    cands = list(c.iter_candidates(job_id=job.id, page_size=1000))
    assert want in {x.arch_hash for x in cands}
    # The plot draws the zoo model at its predicted latency on the same hardware.
    out = tmp_path / "pareto.png"
    res = subprocess.run([str(ROOT / "scripts" / "lutnas"), "--server",
                          c.target, "plot", str(job.id),
                          "-o", str(out), "--hardware", hw, "--zoo", "mobilenet_v3_large", "--zoo",
                          "mobilenet_v3_small"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 10000
    pred = c.predict(mb, hardware=[hw]).predictions[0].latency_ms
    assert f"zoo mobilenet_v3_large: {pred:.4g} ms predicted on {hw}" in res.stdout


def test_seed_outside_the_space_is_invalid_argument(module_client):
    c = module_client
    hw = "pytest-zoo-seed-bad"
    c.register_hardware(spec_hardware(hw))
    v2 = json.loads((ROOT / "models" / "mobilenet_v2.json").read_text())
    spec = {"name": "pytest-zoo-seed-bad", "space": "mbv3", "objective": "PARAMS",
            "population": 6, "sample_size": 3, "generations": 1,
            "max_params": 20_000_000, "seed_architectures": [v2]}
    with pytest.raises(InvalidArgument) as e:
        c.submit(spec)
    assert "seed_architectures[0].stem" in str(e.value)


def test_detect_space_search_with_zen_returns_feature_map_backbones(module_client):
    c = module_client
    hw = "pytest-zoo-detect"
    c.register_hardware(spec_hardware(hw))
    spec = {"name": "pytest-zoo-detect", "space": "detect", "objective": "ZEN",
            "population": 4, "sample_size": 2, "generations": 1, "seed": 5,
            "max_params": 5_000_000, "report_hardware": [hw]}
    job = c.submit(spec)
    _, final = finish(c, job.id, timeout=300)
    assert final.error == ""
    cands = list(c.iter_candidates(job_id=job.id, page_size=1000))
    assert cands
    arch = json.loads(c.export_candidate(cands[0].id, format="json").content)
    assert arch["resolution"] == 640 and arch["height"] == 384
    assert arch["head"]["feature_strides"] == [8, 16, 32]
    assert {next(iter(b)) for s in arch["stages"] for b in s["blocks"]} <= {"c2f", "c3", "sppf"}
    assert all(x.latency and x.latency[0].latency_ms > 0 for x in cands)
