"""The NAS-Bench-201 space (Dong & Yang, ICLR 2020), CIFAR setting, exactly as
its `tiny_network` builds it.

An architecture is one cell, `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: 4 nodes,
node 0 the cell's input, node 3 its output, edge `op~j` in group i runs from
node j into node i (i = 1..3). The network: stem 3x3 conv 3->16 + BN; three
stages of 5 cells at 16, 32, 64 channels (32x32, 16x16, 8x8) with a residual
reduction block (ResNet basic block, stride 2, shortcut = 2x2 avg pool + 1x1
conv) between stages; BN-ReLU, global average pool, linear (10 classes).

What a runtime executes: an edge is *live* when its op is not `none`, its
source node is reachable from node 0 and its target node reaches node 3,
both over non-`none` edges. Dead edges cost nothing (no MACs, no keys, no
time): a runtime's graph optimiser drops them because nothing they compute
reaches the output. A cell with *no path* from input to output (every path
cut by `none`) outputs zeros: it has no live edge, costs nothing, and is
reported by `has_path() == False`; the network then still runs its stem,
reduction blocks and head (the data's measured latencies for such networks
are the lowest of all: HW-NAS-Bench's TFLite Pixel 3 / Raspberry Pi 4 times
of such networks are a few microseconds, the converter folded the whole
network to a constant). `build(..., pruned=True)` builds exactly the live
graph (a no-path cell outputs x * 0, which keeps the input in an ONNX export);
`pruned=False` builds NAS-Bench-201's own model with every op, whose
parameter count is the published `params` column (dead convs keep weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

OPS: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (target node, source node) of the 6 edges in the arch string's order.
EDGES: Tuple[Tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
STAGE_CHANNELS: Tuple[int, ...] = (16, 32, 64)
CELLS_PER_STAGE = 5
RESOLUTION = 32
NUM_CLASSES = 10
KEY_OPS: Tuple[str, ...] = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "add")


@dataclass(frozen=True)
class Cell:
    """One NAS-Bench-201 cell: the 6 edge ops in EDGES order."""
    ops: Tuple[str, ...]

    def __str__(self) -> str:
        return to_string(self)


def parse(arch: str) -> Cell:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> Cell; ValueError names what is wrong."""
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise ValueError(f"nb201 arch: expected 3 '+'-separated node groups, got {len(groups)}: {arch!r}")
    ops: List[str] = []
    for i, g in enumerate(groups, start=1):
        parts = [p for p in g.strip().strip("|").split("|") if p]
        if len(parts) != i:
            raise ValueError(f"nb201 arch: node {i} needs {i} edges, got {len(parts)}: {arch!r}")
        for j, p in enumerate(parts):
            op, _, src = p.partition("~")
            if op not in OPS:
                raise ValueError(f"nb201 arch: unknown op {op!r} (ops: {', '.join(OPS)})")
            if src != str(j):
                raise ValueError(f"nb201 arch: edge {p!r} of node {i} must come from node {j}")
            ops.append(op)
    return Cell(tuple(ops))


def to_string(cell: Cell) -> str:
    o = cell.ops
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def live_edges(cell: Cell) -> Tuple[bool, ...]:
    """Per edge (EDGES order): does a runtime execute it?"""
    fwd = [True, False, False, False]  # reachable from node 0
    for (t, s), op in zip(EDGES, cell.ops):
        if op != "none" and fwd[s]:
            fwd[t] = True
    bwd = [False, False, False, True]  # reaches node 3
    for (t, s), op in reversed(list(zip(EDGES, cell.ops))):
        if op != "none" and bwd[t]:
            bwd[s] = True
    return tuple(op != "none" and fwd[s] and bwd[t] for (t, s), op in zip(EDGES, cell.ops))


def has_path(cell: Cell) -> bool:
    """Is the cell's output connected to its input at all?"""
    return any(live_edges(cell))


def live_op_counts(cell: Cell) -> Dict[str, int]:
    """Live edges per op, plus `add`: extra inputs summed at live nodes."""
    live = live_edges(cell)
    counts = {k: 0 for k in KEY_OPS}
    indeg = [0, 0, 0, 0]
    for (t, _), op, alive in zip(EDGES, cell.ops, live):
        if alive:
            counts[op] += 1
            indeg[t] += 1
    counts["add"] = sum(max(0, d - 1) for d in indeg)
    return counts


def _stage_tag(s: int) -> str:
    return f"c{STAGE_CHANNELS[s]}r{RESOLUTION >> s}"


_LIVE_OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def key_names() -> List[str]:
    """The space's latency-table keys, per stage (channels, resolution):
    `op/e{to}{from}` a live edge (op x edge position: on parallel hardware,
    a VPU, an op on the critical path costs more than one beside it),
    `add` an element-wise add of a live node summing several edges (a node
    of n live inputs has n - 1), `dead_op` an edge a graph-optimising
    runtime drops (its cost-model prior is 0; a runtime that runs every op,
    e.g. PyTorch eager, gives it a time in a fit), and NO_PATH_KEY.
    Edge keys of one op and stage form a group (`key_parents`): a fit moves
    them together unless the data say otherwise."""
    out: List[str] = []
    for s in range(len(STAGE_CHANNELS)):
        tag = _stage_tag(s)
        out += [f"nb201/{op}/e{t}{f}/{tag}" for op in _LIVE_OPS for (t, f) in EDGES]
        out.append(f"nb201/add/{tag}")
        out += [f"nb201/dead_{op}/{tag}" for op in _LIVE_OPS]
    out.append(NO_PATH_KEY)
    return out


def key_parents() -> Dict[str, str]:
    """Edge key -> its op x stage group."""
    out = {f"nb201/{op}/e{t}{f}/{_stage_tag(s)}": f"nb201/{op}"
           for s in range(len(STAGE_CHANNELS)) for op in _LIVE_OPS for (t, f) in EDGES}
    out.update({f"nb201/dead_{op}/{_stage_tag(s)}": f"nb201/dead_{op}"
                for s in range(len(STAGE_CHANNELS)) for op in _LIVE_OPS})
    out.update({f"nb201/add/{_stage_tag(s)}": "nb201/add" for s in range(len(STAGE_CHANNELS))})
    return out


# A network whose cell has no path: its output does not depend on its input.
# Its time is this key alone (plus any dead ops a runtime still runs), in
# place of the per-network constant: a graph optimiser may fold it to nothing
# (TFLite did), an eager runtime still runs stem, reductions and head.
NO_PATH_KEY = "nb201/no_path_network"


def key_counts(cell: Cell) -> Dict[str, int]:
    """The network's keys with multiplicities (5 cells per stage)."""
    live = live_edges(cell)
    per_cell: Dict[str, int] = {}
    indeg = [0, 0, 0, 0]
    for (t, f), op, alive in zip(EDGES, cell.ops, live):
        if op == "none":
            continue
        if alive:
            per_cell[f"{op}/e{t}{f}"] = 1
            indeg[t] += 1
        else:
            per_cell[f"dead_{op}"] = per_cell.get(f"dead_{op}", 0) + 1
    adds = sum(max(0, d - 1) for d in indeg)
    if adds:
        per_cell["add"] = adds
    out = {f"nb201/{k}/{_stage_tag(s)}": CELLS_PER_STAGE * v
           for s in range(len(STAGE_CHANNELS)) for k, v in per_cell.items()}
    if not any(live):
        out[NO_PATH_KEY] = 1
    return out


def op_stage_counts(cell: Cell) -> Dict[str, int]:
    """The plain additive fit's features: live edges per op x stage."""
    counts = live_op_counts(cell)
    return {f"{op}/{_stage_tag(s)}": CELLS_PER_STAGE * counts[op]
            for s in range(len(STAGE_CHANNELS)) for op in _LIVE_OPS if counts[op]}


# --- cost ---------------------------------------------------------------------------------

def _conv(cin: int, cout: int, k: int, hw_out: int) -> Tuple[int, int]:
    """(MACs, weight params) of a bias-free conv."""
    return cin * cout * k * k * hw_out * hw_out, cin * cout * k * k


@dataclass(frozen=True)
class Cost:
    """Whole-network cost at 32x32, batch 1: MACs and parameters (weights,
    biases and BN affine parameters; no running statistics, as NAS-Bench-201
    counts them), and memory access in float32 bytes (activations read and
    written by every op plus weights), each of what the runtime executes."""
    macs: int
    params: int
    memory_bytes: int


def _edge_cost(op: str, c: int, hw: int) -> Cost:
    act = c * hw * hw
    if op == "nor_conv_3x3" or op == "nor_conv_1x1":
        k = 3 if op == "nor_conv_3x3" else 1
        m, p = _conv(c, c, k, hw)
        return Cost(m, p + 2 * c, 4 * (3 * act + p))  # ReLU in, conv, BN (fused by runtimes: 2 reads + 1 write)
    if op == "avg_pool_3x3":
        return Cost(0, 0, 4 * 2 * act)
    if op == "skip_connect":
        return Cost(0, 0, 0)
    return Cost(0, 0, 0)


def _fixed_cost() -> Cost:
    """Stem, the two reduction blocks and the head: the same in every network."""
    macs = params = mem = 0
    m, p = _conv(3, 16, 3, RESOLUTION)
    macs += m
    params += p + 2 * 16
    mem += 4 * (3 * RESOLUTION ** 2 + 16 * RESOLUTION ** 2 + p)
    for i in (1, 2):
        cin, cout, hw = STAGE_CHANNELS[i - 1], STAGE_CHANNELS[i], RESOLUTION >> i
        for mm, pp in (_conv(cin, cout, 3, hw), _conv(cout, cout, 3, hw), _conv(cin, cout, 1, hw)):
            macs += mm
            params += pp
            mem += 4 * pp
        params += 2 * cout * 2  # BN of conv_a and conv_b
        mem += 4 * (cin * (2 * hw) ** 2 * 3 + cout * hw * hw * 5)
    c = STAGE_CHANNELS[-1]
    params += 2 * c + c * NUM_CLASSES + NUM_CLASSES
    macs += c * NUM_CLASSES
    mem += 4 * (2 * c * 64 + c * NUM_CLASSES)
    return Cost(macs, params, mem)


def cost(cell: Cell, pruned: bool = True) -> Cost:
    """The network's cost; pruned=False counts every op as NAS-Bench-201
    builds it (its `params`/`flops` columns), pruned=True only live edges."""
    live = live_edges(cell) if pruned else tuple(op != "none" for op in cell.ops)
    f = _fixed_cost()
    macs, params, mem = f.macs, f.params, f.memory_bytes
    for s, c in enumerate(STAGE_CHANNELS):
        hw = RESOLUTION >> s
        for op, alive in zip(cell.ops, live):
            if alive:
                e = _edge_cost(op, c, hw)
                macs += CELLS_PER_STAGE * e.macs
                params += CELLS_PER_STAGE * e.params
                mem += CELLS_PER_STAGE * e.memory_bytes
    return Cost(macs, params, mem)


def key_costs() -> Dict[str, Cost]:
    """Per key, the cost of one instance (for cost-model priors); dead edges 0."""
    out: Dict[str, Cost] = {}
    for s, c in enumerate(STAGE_CHANNELS):
        hw = RESOLUTION >> s
        tag = _stage_tag(s)
        for op in _LIVE_OPS:
            for (t, f) in EDGES:
                out[f"nb201/{op}/e{t}{f}/{tag}"] = _edge_cost(op, c, hw)
            out[f"nb201/dead_{op}/{tag}"] = Cost(0, 0, 0)
        out[f"nb201/add/{tag}"] = Cost(0, 0, 4 * 3 * c * hw * hw)
    out[NO_PATH_KEY] = _fixed_cost()  # the cost model: everything outside the cells runs
    return out


def fixed_cost() -> Cost:
    """Stem, reduction blocks and head (every network's constant part)."""
    return _fixed_cost()


def published_flops(cell: Cell) -> int:
    """NAS-Bench-201's `flops` column (in units, not M): every op as built
    (dead ones too), convs' and the classifier's MACs plus 3 per output
    element of each ReLU-Conv-BN edge, 9 per output element of each 3x3
    average pool, and 160,832 for the stem's, reductions' and head's
    element-wise work (derived from the 725 published values, exact to
    their printed 1e-6 M)."""
    n = 0
    for s, c in enumerate(STAGE_CHANNELS):
        elems = c * (RESOLUTION >> s) ** 2
        for op in cell.ops:
            if op in ("nor_conv_1x1", "nor_conv_3x3"):
                n += CELLS_PER_STAGE * 3 * elems
            elif op == "avg_pool_3x3":
                n += CELLS_PER_STAGE * 9 * elems
    return cost(cell, pruned=False).macs + n + 160832


# --- PyTorch ------------------------------------------------------------------------------

def build(cell: Cell, pruned: bool = False, num_classes: int = NUM_CLASSES) -> Any:
    """NAS-Bench-201's network as a torch.nn.Module (train mode, default init).
    pruned=True drops dead edges (and a no-path cell's ops) from the graph."""
    import torch
    from torch import nn

    def relu_conv_bn(cin: int, cout: int, k: int, stride: int) -> Any:
        return nn.Sequential(nn.ReLU(inplace=False),
                             nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False),
                             nn.BatchNorm2d(cout))

    def make_op(op: str, c: int) -> Any:
        if op == "nor_conv_3x3":
            return relu_conv_bn(c, c, 3, 1)
        if op == "nor_conv_1x1":
            return relu_conv_bn(c, c, 1, 1)
        if op == "avg_pool_3x3":
            return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        if op == "skip_connect":
            return nn.Identity()
        return _Zero()

    class _Zero(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.mul(0.0)

    class _Cell(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            live = live_edges(cell) if pruned else tuple(True for _ in cell.ops)
            self.edges = [(t, s) for (t, s), alive in zip(EDGES, live) if alive]
            self.ops = nn.ModuleList([make_op(op, c) for op, alive in zip(cell.ops, live) if alive])

        def forward(self, x: Any) -> Any:
            nodes: List[Any] = [x, None, None, None]
            for (t, s), op in zip(self.edges, self.ops):
                y = op(nodes[s])
                nodes[t] = y if nodes[t] is None else nodes[t] + y
            # no path: the output does not depend on the input; x * 0 keeps the
            # input in an exported graph (a graph optimiser may still fold it)
            return nodes[3] if nodes[3] is not None else x.mul(0.0)

    class _Reduction(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv_a = relu_conv_bn(cin, cout, 3, 2)
            self.conv_b = relu_conv_bn(cout, cout, 3, 1)
            self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0),
                                            nn.Conv2d(cin, cout, 1, 1, 0, bias=False))

        def forward(self, x: Any) -> Any:
            return self.downsample(x) + self.conv_b(self.conv_a(x))

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c0 = STAGE_CHANNELS[0]
            self.stem = nn.Sequential(nn.Conv2d(3, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0))
            layers: List[Any] = []
            for s, c in enumerate(STAGE_CHANNELS):
                if s:
                    layers.append(_Reduction(STAGE_CHANNELS[s - 1], c))
                layers.extend(_Cell(c) for _ in range(CELLS_PER_STAGE))
            self.cells = nn.Sequential(*layers)
            c = STAGE_CHANNELS[-1]
            self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(c, num_classes)

        def features(self, x: Any) -> Any:
            """The body's output (before the head's BN-ReLU-pool-linear)."""
            return self.cells(self.stem(x))

        def forward(self, x: Any) -> Any:
            y = self.pool(self.lastact(self.features(x))).flatten(1)
            return self.classifier(y)

    return _Net()


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def export_onnx(cell: Cell, path: str, opset: int = 13) -> None:
    """The pruned network (what a runtime runs) as ONNX, input 1x3x32x32."""
    import torch
    model = build(cell, pruned=True).eval()
    with torch.no_grad():
        torch.onnx.export(model, torch.randn(1, 3, RESOLUTION, RESOLUTION), path,
                          opset_version=opset, input_names=["input"], output_names=["logits"],
                          do_constant_folding=True)


def all_cells() -> List[Cell]:
    """The 15,625 cells of the space."""
    import itertools
    return [Cell(tuple(o)) for o in itertools.product(OPS, repeat=6)]

