#!/usr/bin/python3
"""Writes models/{mobilenet_v3_*,efficientnet_b*,regnet_y_*}.json from Debian's
torchvision (0.14): MobileNetV3 and EfficientNet from torchvision's own block
configurations, RegNetY by walking the instantiated module (weights=None; nothing
is downloaded). tests/python/test_zoo.py checks the files against torchvision.

    /usr/bin/python3 scripts/gen_zoo.py [--check]   # --check: fail if a file would change
"""
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conv(out, k, s, act):
    return {"conv": {"out_channels": out, "kernel": k, "stride": s, "act": act}}


def mobilenet_v3(name):
    from torchvision.models import mobilenetv3

    setting, last = mobilenetv3._mobilenet_v3_conf(name)
    stem = [conv(setting[0].input_channels, 3, 2, "HSWISH")]
    stages = []
    for cnf in setting:
        m = {"out_channels": cnf.out_channels}
        if cnf.expanded_channels == cnf.input_channels:
            m["expansion"] = 1
        else:
            m["hidden_channels"] = cnf.expanded_channels
        m.update(kernel=cnf.kernel, stride=cnf.stride, se=bool(cnf.use_se),
                 act="HSWISH" if cnf.use_hs else "RELU")
        if not stages or cnf.out_channels != stages[-1][-1]["mbconv"]["out_channels"]:
            stages.append([])
        stages[-1].append({"mbconv": m})
    # The first block (16 -> 16, no expansion) joins the stem, as in the mobile space.
    if len(stages[0]) == 1 and setting[0].stride == 1:
        stem.append(stages.pop(0)[0])
    head = {"conv_channels": 6 * setting[-1].out_channels, "act": "HSWISH",
            "fc_hidden": last, "num_classes": 1000}
    return {"name": name, "resolution": 224, "stem": stem,
            "stages": [{"blocks": b} for b in stages], "head": head}


def efficientnet(name, depth_mult, resolution):
    from torchvision.models import efficientnet

    setting, _ = efficientnet._efficientnet_conf(name, width_mult=1.0, depth_mult=depth_mult)
    se = {"base": "SE_INPUT", "ratio": 0.25, "divisor": 1, "gate": "SE_SIGMOID", "act": "SILU"}
    stem = [conv(setting[0].input_channels, 3, 2, "SILU")]
    stages = []
    for cnf in setting:
        blocks = []
        for i in range(cnf.num_layers):
            blocks.append({"mbconv": {"out_channels": cnf.out_channels,
                                      "expansion": cnf.expand_ratio, "kernel": cnf.kernel,
                                      "stride": cnf.stride if i == 0 else 1,
                                      "se_options": dict(se), "act": "SILU"}})
        stages.append({"blocks": blocks})
    head = {"conv_channels": 4 * setting[-1].out_channels, "act": "SILU", "num_classes": 1000}
    return {"name": name, "resolution": resolution, "stem": stem, "stages": stages, "head": head}


def regnet_y(name):
    from torchvision.models import regnet

    model = getattr(regnet, name)(weights=None)
    stem = [conv(model.stem[0].out_channels, 3, 2, "RELU")]
    stages = []
    for stage in model.trunk_output:
        blocks = []
        for blk in stage:
            f = blk.f
            w_in = f.a[0].in_channels
            squeeze = f.se.fc1.out_channels
            assert squeeze == max(1, math.floor(0.25 * w_in)), (name, w_in, squeeze)
            blocks.append({"bottleneck": {
                "out_channels": f.c[0].out_channels, "mid_channels": f.a[0].out_channels,
                "stride": f.b[0].stride[0], "groups": f.b[0].groups, "act": "RELU",
                "se": {"base": "SE_INPUT", "ratio": 0.25, "divisor": 1, "gate": "SE_SIGMOID",
                       "act": "RELU"}}})
        stages.append({"blocks": blocks})
    head = {"conv_channels": 0, "num_classes": model.fc.out_features}
    return {"name": name, "resolution": 224, "stem": stem, "stages": stages, "head": head}


MODELS = {
    "mobilenet_v3_large": lambda: mobilenet_v3("mobilenet_v3_large"),
    "mobilenet_v3_small": lambda: mobilenet_v3("mobilenet_v3_small"),
    "efficientnet_b0": lambda: efficientnet("efficientnet_b0", 1.0, 224),
    "efficientnet_b1": lambda: efficientnet("efficientnet_b1", 1.1, 240),
    "regnet_y_400mf": lambda: regnet_y("regnet_y_400mf"),
    "regnet_y_800mf": lambda: regnet_y("regnet_y_800mf"),
}


def main():
    check = "--check" in sys.argv[1:]
    changed = []
    for name, make in MODELS.items():
        text = json.dumps(make(), indent=1) + "\n"
        path = os.path.join(ROOT, "models", name + ".json")
        old = open(path).read() if os.path.exists(path) else None
        if old != text:
            changed.append(path)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and changed:
        sys.exit("gen_zoo: out of date: " + ", ".join(changed))
    print(f"gen_zoo: {len(MODELS)} models, {len(changed)} "
          + ("out of date" if check else "written"))


if __name__ == "__main__":
    main()
