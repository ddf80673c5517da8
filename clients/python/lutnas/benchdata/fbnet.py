"""The FBNet space (Wu et al., CVPR 2019) in HW-NAS-Bench's CIFAR-100 setting.

Stem 3x3 conv 3->16, stride 1 (+BN-ReLU); 22 searchable layers in 7 stages
(layers per stage 1,4,4,4,4,4,1; channels 16,24,32,64,112,184,352; stride
of each stage's first layer 1,1,2,2,1,2,1); head 1x1 conv 352->1504
(+BN-ReLU), global average pool, linear to 100 classes; input 32x32.

Each layer is one of 9 ops. `kK_eE[_g2]` is FBNet's inverted-residual block
(maskrcnn-benchmark's IRFBlock): 1x1 conv expanding to E x C_in (kept for
E = 1 too, as FBNet does) + BN + ReLU, a channel shuffle when grouped, KxK
depthwise conv (the layer's stride) + BN + ReLU, 1x1 conv to C_out + BN;
`_g2` puts both 1x1 convs in 2 groups; a residual add when stride is 1 and
C_in == C_out. `skip` is the identity, or a 1x1 conv (+BN-ReLU) with the
layer's stride when stride or width changes. An architecture is the 22 ops
joined by '-' (the data's `arch` column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

OPS: Tuple[str, ...] = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3",
                        "k5_e6", "skip")
STAGE_LAYERS: Tuple[int, ...] = (1, 4, 4, 4, 4, 4, 1)
STAGE_CHANNELS: Tuple[int, ...] = (16, 24, 32, 64, 112, 184, 352)
STAGE_STRIDES: Tuple[int, ...] = (1, 1, 2, 2, 1, 2, 1)
STEM_CHANNELS = 16
HEAD_CHANNELS = 1504
RESOLUTION = 32
NUM_CLASSES = 100


@dataclass(frozen=True)
class Layer:
    """One searchable position: its input/output widths, stride and input side."""
    index: int
    cin: int
    cout: int
    stride: int
    hw_in: int

    @property
    def hw_out(self) -> int:
        return self.hw_in // self.stride


def layers() -> List[Layer]:
    out: List[Layer] = []
    cin, hw = STEM_CHANNELS, RESOLUTION
    for n, c, s in zip(STAGE_LAYERS, STAGE_CHANNELS, STAGE_STRIDES):
        for i in range(n):
            stride = s if i == 0 else 1
            out.append(Layer(len(out), cin, c, stride, hw))
            cin, hw = c, hw // stride
    return out


LAYERS: Tuple[Layer, ...] = tuple(layers())


@dataclass(frozen=True)
class Arch:
    """An FBNet-space network: one op per layer."""
    ops: Tuple[str, ...]

    def __str__(self) -> str:
        return "-".join(self.ops)


def parse(arch: str) -> Arch:
    ops = tuple(arch.strip().split("-"))
    if len(ops) != len(LAYERS):
        raise ValueError(f"fbnet arch: expected {len(LAYERS)} '-'-separated ops, got {len(ops)}")
    for op in ops:
        if op not in OPS:
            raise ValueError(f"fbnet arch: unknown op {op!r} (ops: {', '.join(OPS)})")
    return Arch(ops)


def _op_shape(op: str) -> Tuple[int, int, int]:
    """(kernel, expansion, groups) of an inverted-residual op."""
    parts = op.split("_")
    return int(parts[0][1:]), int(parts[1][1:]), (2 if len(parts) > 2 else 1)


@dataclass(frozen=True)
class Cost:
    """MACs, parameters (weights + BN affine + linear bias) and memory access
    (float32 bytes: activations read and written and weights) at batch 1."""
    macs: int
    params: int
    memory_bytes: int

    def __add__(self, o: "Cost") -> "Cost":
        return Cost(self.macs + o.macs, self.params + o.params, self.memory_bytes + o.memory_bytes)


def _conv(cin: int, cout: int, k: int, groups: int, hw_in: int, hw_out: int) -> Cost:
    w = cin // groups * cout * k * k
    return Cost(w * hw_out * hw_out, w + 2 * cout,
                4 * (cin * hw_in * hw_in + cout * hw_out * hw_out + w))


def layer_cost(op: str, layer: Layer) -> Cost:
    if op == "skip":
        if layer.stride == 1 and layer.cin == layer.cout:
            return Cost(0, 0, 0)
        return _conv(layer.cin, layer.cout, 1, 1, layer.hw_in, layer.hw_out)
    k, e, g = _op_shape(op)
    mid = layer.cin * e
    c = (_conv(layer.cin, mid, 1, g, layer.hw_in, layer.hw_in)
         + _conv(mid, mid, k, mid, layer.hw_in, layer.hw_out)
         + _conv(mid, layer.cout, 1, g, layer.hw_out, layer.hw_out))
    if layer.stride == 1 and layer.cin == layer.cout:
        c = c + Cost(0, 0, 4 * 3 * layer.cout * layer.hw_out ** 2)
    return c


def fixed_cost() -> Cost:
    """Stem and head: the same in every network."""
    hw_last = LAYERS[-1].hw_out
    head = _conv(STAGE_CHANNELS[-1], HEAD_CHANNELS, 1, 1, hw_last, hw_last)
    fc = Cost(HEAD_CHANNELS * NUM_CLASSES, HEAD_CHANNELS * NUM_CLASSES + NUM_CLASSES,
              4 * (HEAD_CHANNELS * NUM_CLASSES + HEAD_CHANNELS + NUM_CLASSES))
    return _conv(3, STEM_CHANNELS, 3, 1, RESOLUTION, RESOLUTION) + head + fc


def cost(arch: Arch) -> Cost:
    c = fixed_cost()
    for op, layer in zip(arch.ops, LAYERS):
        c = c + layer_cost(op, layer)
    return c


def key_name(op: str, layer: Layer) -> str:
    return f"fbnet/{op}/L{layer.index}/c{layer.cin}-{layer.cout}s{layer.stride}r{layer.hw_in}"


def key_names() -> List[str]:
    """Every key of the space: op x layer position (the position fixes the shape)."""
    return [key_name(op, layer) for layer in LAYERS for op in OPS]


def key_parents() -> Dict[str, str]:
    """Layer key -> op x shape (the layers of a stage after its first share one)."""
    return {key_name(op, layer): f"fbnet/{op}/c{layer.cin}-{layer.cout}s{layer.stride}r{layer.hw_in}"
            for layer in LAYERS for op in OPS}


def key_counts(arch: Arch) -> Dict[str, int]:
    return {key_name(op, layer): 1 for op, layer in zip(arch.ops, LAYERS)}


def key_costs() -> Dict[str, Cost]:
    return {key_name(op, layer): layer_cost(op, layer) for layer in LAYERS for op in OPS}


# --- PyTorch ------------------------------------------------------------------------------

def build(arch: Arch, num_classes: int = NUM_CLASSES) -> Any:
    """The network as a torch.nn.Module (train mode, default init)."""
    import torch
    from torch import nn

    def conv_bn(cin: int, cout: int, k: int, stride: int, groups: int, relu: bool) -> Any:
        mods = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout)]
        if relu:
            mods.append(nn.ReLU(inplace=False))
        return nn.Sequential(*mods)

    class _Shuffle(nn.Module):
        def __init__(self, groups: int) -> None:
            super().__init__()
            self.groups = groups

        def forward(self, x: Any) -> Any:
            n, c, h, w = x.shape
            return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    class _Block(nn.Module):
        def __init__(self, op: str, layer: Layer) -> None:
            super().__init__()
            self.residual = layer.stride == 1 and layer.cin == layer.cout
            if op == "skip":
                self.body = (nn.Identity() if self.residual
                             else conv_bn(layer.cin, layer.cout, 1, layer.stride, 1, True))
                self.residual = False
                return
            k, e, g = _op_shape(op)
            mid = layer.cin * e
            mods = [conv_bn(layer.cin, mid, 1, 1, g, True)]
            if g > 1:
                mods.append(_Shuffle(g))
            mods += [conv_bn(mid, mid, k, layer.stride, mid, True),
                     conv_bn(mid, layer.cout, 1, 1, g, False)]
            self.body = nn.Sequential(*mods)

        def forward(self, x: Any) -> Any:
            y = self.body(x)
            return x + y if self.residual else y

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(3, STEM_CHANNELS, 3, 1, 1, True)
            self.layers = nn.Sequential(*[_Block(op, layer) for op, layer in zip(arch.ops, LAYERS)])
            self.head = conv_bn(STAGE_CHANNELS[-1], HEAD_CHANNELS, 1, 1, 1, True)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

        def features(self, x: Any) -> Any:
            return self.layers(self.stem(x))

        def forward(self, x: Any) -> Any:
            return self.classifier(torch.flatten(self.pool(self.head(self.features(x))), 1))

    return _Net()


def export_onnx(arch: Arch, path: str, opset: int = 13) -> None:
    """The network as ONNX, input 1x3x32x32."""
    import torch
    model = build(arch).eval()
    with torch.no_grad():
        torch.onnx.export(model, torch.randn(1, 3, RESOLUTION, RESOLUTION), path,
                          opset_version=opset, input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)
