"""lutnas's training-free proxies in Python, for networks lutnasd cannot build
(the public benchmarks' spaces). The definitions are those of
latency_models/proxies.cc, step for step:

- the network in train mode (batch norm uses batch statistics), every conv
  and linear weight ~ N(0, 1) from one seeded generator, biases 0, batch
  norm weight 1 and bias 0 (the Zen-NAS initialisation);
- input x ~ N(0, 1) of shape (batch, 3, R, R) from the same generator;
- Zen-score: BN momentum 1; f1 = features(x); sum over BN layers of
  log sqrt(mean_channel(running_var)) read after that pass; eps ~ N(0, 1),
  f2 = features(x + 0.01 eps); score = log(mean over the batch of
  sum |f1 - f2|) + that sum. `features` is the body before the head.
  A network whose features do not depend on its input (NB201: a cell with
  no path) has a batch norm of zero variance: its score is -inf, as in C++.
- NASWOT: binary codes c = (y > 0) of every ReLU's output in a full forward
  pass, K = sum over ReLUs of c c^T + (1 - c)(1 - c)^T, score = log |det K|.
"""

from __future__ import annotations

import math
from typing import Any, List


def _log(v: float) -> float:
    """std::log as the C++ has it: log 0 = -inf (a constant feature map)."""
    return math.log(v) if v > 0 else -math.inf


def gaussian_init(model: Any, gen: Any) -> Any:
    import torch
    from torch import nn
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_(0.0, 1.0, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
    model.train()
    return model


def zen_score(model: Any, resolution: int = 32, batch: int = 8, seed: int = 0) -> float:
    """Zen-score of a freshly built model exposing `features(x)`."""
    import torch
    from torch import nn
    gen = torch.Generator().manual_seed(seed)
    gaussian_init(model, gen)
    with torch.no_grad():
        bns: List[Any] = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for b in bns:
            b.momentum = 1.0
        x = torch.randn(batch, 3, resolution, resolution, generator=gen)
        eps = torch.randn(x.shape, generator=gen)
        f1 = model.features(x)
        log_bn = 0.0
        for b in bns:
            log_bn += _log(math.sqrt(float(b.running_var.mean())))
        f2 = model.features(x + 0.01 * eps)
        delta = float((f1 - f2).abs().flatten(1).sum(1).mean())
    return _log(delta) + log_bn


def naswot_score(model: Any, resolution: int = 32, batch: int = 8, seed: int = 0) -> float:
    """NASWOT (log |det K|) of a freshly built model."""
    import torch
    from torch import nn
    gen = torch.Generator().manual_seed(seed)
    gaussian_init(model, gen)
    k = torch.zeros(batch, batch, dtype=torch.float64)

    def hook(_m: Any, _i: Any, y: Any) -> None:
        c = (y > 0).flatten(1).float()
        r = c.sum(1).double()
        k.add_(c.mm(c.t()).double().mul(2.0).add(c.shape[1]).sub(r.unsqueeze(1)).sub(r.unsqueeze(0)))

    handles: List[Any] = [m.register_forward_hook(hook) for m in model.modules()
                          if isinstance(m, (nn.ReLU, nn.ReLU6))]
    try:
        with torch.no_grad():
            model(torch.randn(batch, 3, resolution, resolution, generator=gen))
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(k)[1])
