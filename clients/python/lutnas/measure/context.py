"""Models that time a block inside a context, for a tool that prints one
number per model file.

A block exported alone and timed as a whole model pays what the same block
inside a network does not: the tool's per-run overhead, the layout reorders
and quantize/dequantize at the model's input and output, the copy of a cold
input. Those costs belong to the model's *ends*, so they cancel in a
difference of two models with the same ends:

- a block whose output has its input's shape is timed alone (x1) and
  repeated k times in a chain (xk), each repeat with its own copy of the
  weights: ``ms = (T(xk) - T(x1)) / (k - 1)``. Both models have the same
  input and output, so everything paid once per model cancels exactly, and
  the repeats meet each other the way blocks of a network do (the runtime's
  internal layout, no reorder between them);
- a block that changes the shape (stride, width, the head) is chained with
  an adapter U back to its input shape: B, U, B, U, ..., B. The adapter's
  cost is taken out with a *context* chain of the same ends, D, U, D, ..., D,
  where D is a cheap strided/grouped 1x1-like convolution with the block's
  input and output shapes: ``ms = [(T(Bxk) - T(Bx1)) - (T(Dxk) - T(Dx1))] /
  (k - 1)`` = the block minus D (D is a grouped convolution, at most a few
  percent of any block). Contexts depend only on the shapes, so every key of
  the same input/output shapes shares one;
- the network's entry block (3 input channels: the stem) is kept as timed
  alone: a network pays the per-run overhead and its input's reorder once,
  and the entry block is where the table carries them.

U and D are convolutions (ConvTranspose where they upsample), so a runtime
keeps them in the same internal layout as the blocks around them: a reshape
would force the reorders we want to cancel.
"""

import copy
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

REPEAT = 4  # k: repeats in a chain
OPSET = 13
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
REFERENCE = "reference"  # the model every round is normalised by

Shape = Tuple[int, ...]


@dataclass
class KeyModels:
    """The models one key is timed with, and how its latency follows from them."""

    key: str
    in_shape: Shape = ()
    out_shape: Shape = ()
    lone: str = ""                 # the block alone: today's lone-model time
    chain: Optional[str] = None    # the block repeated (None: kept as timed alone)
    context: Optional[str] = None  # shape context name prefix (shape-changing blocks)
    method: str = "lone"           # "repeat", "adapter" or "lone"
    error: Optional[str] = None    # build/export failure

    def models(self, k: int) -> List[str]:
        """Every model name this key needs."""
        if self.error:
            return []
        out = [self.lone]
        if self.chain:
            out.append(self.chain)
        if self.context:
            out += [context_name(self.context, 1), context_name(self.context, k)]
        return out

    def value(self, t: Mapping[str, float], k: int) -> Optional[float]:
        """The key's latency from model times t (None: a model is missing)."""
        try:
            if not self.chain:
                return t[self.lone]
            d = t[self.chain] - t[self.lone]
            if self.context:
                d -= t[context_name(self.context, k)] - t[context_name(self.context, 1)]
            return d / (k - 1)
        except KeyError:
            return None


@dataclass
class ContextPlan:
    """Every key's models, the files they were exported to, and k."""

    k: int
    keys: List[KeyModels]
    files: Dict[str, Dict[str, str]] = field(default_factory=dict)  # model -> {format: path}

    def models(self) -> List[str]:
        """Every model to time (each once), the reference excluded."""
        seen: Dict[str, None] = {}
        for km in self.keys:
            for m in km.models(self.k):
                seen.setdefault(m)
        return list(seen)


def context_name(prefix: str, k: int) -> str:
    return f"{prefix}|x{k}"


def shape_text(s: Shape) -> str:
    return "x".join(str(d) for d in s)


def _chw(shape: Shape) -> Tuple[int, Tuple[int, int]]:
    if len(shape) == 4:
        return shape[1], (shape[2], shape[3])
    if len(shape) == 2:
        return shape[1], (1, 1)
    raise ValueError(f"shape {shape} is neither NxCxHxW nor NxF")


def resize_conv(cin: int, cout: int, hw_in: Tuple[int, int], hw_out: Tuple[int, int]) -> Any:
    """A grouped convolution (ConvTranspose when it enlarges) mapping
    cin x hw_in to cout x hw_out exactly, with as few MACs as the shapes
    allow (groups = gcd of the widths, kernel = the stride or a little more)."""
    import torch.nn as nn

    g = math.gcd(cin, cout)
    (hi, wi), (ho, wo) = hw_in, hw_out
    if ho <= hi and wo <= wi:
        # a strided 1x1 where one exists (it picks pixels: Ci*Co/g MACs per output pixel)
        dims = [_down_1x1(hi, ho) or (hi // ho, hi - (ho - 1) * (hi // ho)),
                _down_1x1(wi, wo) or (wi // wo, wi - (wo - 1) * (wi // wo))]
        return nn.Conv2d(cin, cout, (dims[0][1], dims[1][1]), stride=(dims[0][0], dims[1][0]),
                         groups=g, bias=False)
    if ho >= hi and wo >= wi:
        up = [_up_1x1(hi, ho), _up_1x1(wi, wo)]
        if up[0] and up[1]:
            return nn.ConvTranspose2d(cin, cout, 1, stride=(up[0][0], up[1][0]),
                                      output_padding=(up[0][1], up[1][1]), groups=g, bias=False)
        sh, sw = max(1, ho // hi), max(1, wo // wi)
        kh, kw = ho - (hi - 1) * sh, wo - (wi - 1) * sw
        return nn.ConvTranspose2d(cin, cout, (kh, kw), stride=(sh, sw), groups=g, bias=False)
    raise ValueError(f"no single convolution maps {hw_in} to {hw_out}")


def _down_1x1(n_in: int, n_out: int) -> Optional[Tuple[int, int]]:
    """(stride, kernel 1) with floor((n_in - 1) / s) + 1 == n_out, or None."""
    if n_out == 1:
        return n_in, 1
    s = -(-n_in // n_out)  # ceil
    return (s, 1) if (n_out - 1) * s <= n_in - 1 < n_out * s else None


def _up_1x1(n_in: int, n_out: int) -> Optional[Tuple[int, int]]:
    """(stride, output_padding) with (n_in - 1) * s + 1 + op == n_out, 0 <= op < s."""
    if n_in == n_out:
        return 1, 0
    if n_in == 1:
        return n_out, n_out - 1
    s = (n_out - 1) // (n_in - 1)
    op = n_out - 1 - (n_in - 1) * s
    return (s, op) if 0 <= op < s else None


def adapter(in_shape: Shape, out_shape: Shape) -> Any:
    """A cheap module mapping in_shape to out_shape (NxCxHxW or NxF)."""
    import torch.nn as nn

    cin, hwi = _chw(in_shape)
    cout, hwo = _chw(out_shape)
    conv = resize_conv(cin, cout, hwi, hwo)
    in_flat, out_flat = len(in_shape) == 2, len(out_shape) == 2

    class Adapter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv

        def forward(self, x: Any) -> Any:
            if in_flat:
                x = x.reshape(1, -1, 1, 1)
            x = self.conv(x)
            return x.flatten(1) if out_flat else x

    return Adapter().eval()


def chain(parts: Sequence[Any]) -> Any:
    """The modules run one after the other."""
    import torch.nn as nn

    class Chain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = nn.ModuleList(parts)

        def forward(self, x: Any) -> Any:
            for p in self.parts:
                x = p(x)
            return x

    return Chain().eval()


def _own_copy(module: Any, i: int) -> Any:
    """A copy of module whose weights differ from every other copy's (an
    exporter merges equal initializers, and a runtime would then find the
    repeats' weights hot in cache, as a network's blocks never are)."""
    import torch

    m = copy.deepcopy(module)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1.0 + 1e-3 * (i + 1))
    return m


def repeated(block: Any, k: int, up: Optional[Any] = None) -> Any:
    """block k times (own weights each), with a copy of `up` between repeats."""
    parts: List[Any] = []
    for i in range(k):
        if i:
            if up is not None:
                parts.append(_own_copy(up, i))
        parts.append(_own_copy(block, i))
    return chain(parts)


def export_module(module: Any, shape: Shape, workdir: str, formats: Iterable[str],
                  stem: str) -> Dict[str, str]:
    """Exports module (batch-1 input of `shape`) as ONNX and/or TorchScript."""
    import torch

    dummy = torch.randn(*shape)
    files: Dict[str, str] = {}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for f in formats:
            path = os.path.join(workdir, stem + SUFFIX[f])
            if f == "onnx":
                torch.onnx.export(module, dummy, path, opset_version=OPSET,
                                  input_names=["input"], output_names=["output"],
                                  do_constant_folding=True)
            else:
                torch.jit.trace(module, dummy).save(path)  # type: ignore[attr-defined,no-untyped-call]
            files[f] = path
    return files


def reference_module() -> Tuple[Any, Shape]:
    """The fixed workload every round is normalised by: a 3x3 conv, 32
    channels, 56x56 (the one lutnas-profile uses), with BN and ReLU."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                      nn.ReLU()).eval()
    return m, (1, 32, 56, 56)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")[:100]


BlockBuilder = Callable[[str], Tuple[Any, Shape]]


def build_key_block(key: str) -> Tuple[Any, Shape]:
    """(module, input shape) of a table key, from lutnas-inspect's PyTorch code."""
    from .. import tools
    from ..torch_export import load_module

    module = load_module(tools.key_pytorch(key), "lutnas_key")
    shape = tuple(int(d) for d in module.INPUT_SHAPE)
    if not shape or shape[0] != 1:
        raise ValueError(f"INPUT_SHAPE {shape} is not batch 1")
    return module.build_model().eval(), shape


def plan_keys(keys: Sequence[str], workdir: str, formats: Sequence[str], k: int = REPEAT,
              build: BlockBuilder = build_key_block,
              on_key: Optional[Callable[[int, str], None]] = None) -> ContextPlan:
    """Builds and exports every model the keys need (and the reference);
    a key whose block cannot be built or exported gets its error."""
    import torch

    if k < 2:
        raise ValueError("k must be >= 2")
    plan = ContextPlan(k, [])
    ref, ref_shape = reference_module()
    plan.files[REFERENCE] = export_module(ref, ref_shape, workdir, formats, "0000-reference")
    contexts: Dict[str, Optional[str]] = {}  # prefix -> error
    for i, key in enumerate(keys, 1):
        if on_key:
            on_key(i, key)
        km = KeyModels(key)
        plan.keys.append(km)
        stem = f"{i:04d}-{_slug(key)}"
        try:
            torch.manual_seed(i)
            block, shape = build(key)
            with torch.no_grad():
                out = tuple(block(torch.randn(*shape)).shape)
            km.in_shape, km.out_shape = shape, out
            km.lone = f"{key}|x1"
            plan.files[km.lone] = export_module(block, shape, workdir, formats, stem + "-x1")
        except Exception as e:  # noqa: BLE001 - the key's failure, as data
            km.error = f"export failed: {type(e).__name__}: {e}"
            continue
        try:
            if len(shape) == 4 and shape[1] == 3:
                continue  # the entry block: timed alone, it carries the network's ends
            if out == shape:
                up = None
                km.method = "repeat"
            else:
                prefix = f"ctx:{shape_text(shape)}>{shape_text(out)}"
                up = adapter(out, shape)
                if prefix not in contexts:
                    down = adapter(shape, out)
                    cstem = f"c{len(contexts):03d}-{_slug(prefix)}"
                    try:
                        plan.files[context_name(prefix, 1)] = export_module(
                            down, shape, workdir, formats, cstem + "-x1")
                        plan.files[context_name(prefix, k)] = export_module(
                            repeated(down, k, up), shape, workdir, formats, cstem + f"-x{k}")
                        contexts[prefix] = None
                    except Exception as e:  # noqa: BLE001
                        contexts[prefix] = f"{type(e).__name__}: {e}"
                if contexts[prefix]:
                    raise ValueError(f"context {prefix}: {contexts[prefix]}")
                km.context = prefix
                km.method = "adapter"
            km.chain = f"{key}|x{k}"
            plan.files[km.chain] = export_module(repeated(block, k, up), shape, workdir,
                                                 formats, stem + f"-x{k}")
        except Exception:  # noqa: BLE001 - no chain: the key is kept as timed alone
            km.chain, km.context, km.method = None, None, "lone"
    return plan
