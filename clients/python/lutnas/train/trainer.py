"""A tiny but real trainer: a candidate's exported PyTorch module trained on
scikit-learn's handwritten digits (1,797 8x8 images that ship inside
python3-sklearn, so nothing is downloaded), upscaled to the training
resolution, for a short fixed budget with a fixed seed; the score is test
accuracy on a fixed stratified split.

    from lutnas import trainer
    r = trainer.train(code, steps=60, resolution=32, seed=0)
    r["accuracy"], r["seconds"]

The same (code, steps, batch, lr, resolution, seed) gives the same accuracy
on the same machine and torch build (one thread, deterministic kernels).
Networks of every shipped space end in global pooling, so any resolution
trains; the default is 32 px (4x upscale): at the candidate's own 64-96 px a
step costs 4-9x more on a CPU. The head has the space's num_classes outputs
(100 in tiny); labels 0-9 use the first ten.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

from ..torch_export import load_module, require_torch

_DATA: Dict[Tuple[int, int, float, int], Tuple[Any, Any, Any, Any]] = {}


def digits(resolution: int = 32, seed: int = 0, test_fraction: float = 0.3,
           channels: int = 3) -> Tuple[Any, Any, Any, Any]:
    """(x_train, y_train, x_test, y_test) tensors: digits upscaled bilinearly
    to resolution x resolution, normalised, repeated to `channels`; a fixed
    stratified split (sklearn's train_test_split with random_state=seed)."""
    key = (resolution, seed, test_fraction, channels)
    if key in _DATA:
        return _DATA[key]
    torch = require_torch()
    import torch.nn.functional as F
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise RuntimeError(f"the digits trainer needs scikit-learn ({e}); "
                           "Debian: apt-get install python3-sklearn") from None
    if not 8 <= resolution <= 512:
        raise ValueError(f"resolution: must be in 8..512, got {resolution}")
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                          stratify=y)

    def images(a: Any) -> Any:
        t = torch.tensor(a, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False)
        return t

    tr, te = images(xtr), images(xte)
    mean, std = tr.mean(), tr.std()
    tr, te = (tr - mean) / std, (te - mean) / std
    tr, te = tr.repeat(1, channels, 1, 1), te.repeat(1, channels, 1, 1)
    out = (tr.contiguous(), torch.tensor(ytr, dtype=torch.long), te.contiguous(),
           torch.tensor(yte, dtype=torch.long))
    _DATA[key] = out
    return out


def train(code: str, steps: int = 60, batch: int = 64, lr: float = 0.01, resolution: int = 32,
          seed: int = 0, threads: int = 1, name: Optional[str] = None) -> Dict[str, Any]:
    """Trains the generated module `code` (CandidateService.Export, format
    "pytorch") for `steps` Adam steps with a cosine schedule; returns
    {"accuracy", "test_loss", "train_loss", "steps", "seconds", "params"}.
    `resolution` 0 uses the candidate's own input resolution."""
    torch = require_torch()
    import torch.nn.functional as F
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if batch < 1:
        raise ValueError(f"batch: must be >= 1, got {batch}")
    if not lr > 0:
        raise ValueError(f"lr: must be > 0, got {lr}")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    module = load_module(code, name or "lutnas_trainee")
    in_shape = tuple(module.INPUT_SHAPE)
    res = resolution or in_shape[2]
    xtr, ytr, xte, yte = digits(res, seed=0, channels=in_shape[1])
    torch.manual_seed(seed)
    model = module.build_model()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(xtr), generator=gen)
    pos = 0
    losses = []
    for _ in range(steps):
        if pos + batch > len(order):
            order, pos = torch.randperm(len(xtr), generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        logits = model(xtr[idx])
        loss: Any = F.cross_entropy(logits, ytr[idx])  # Tensor.backward is untyped
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
    model.eval()
    correct, total_loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(xte), 256):
            logits = model(xte[i:i + 256])
            total_loss += float(F.cross_entropy(logits, yte[i:i + 256], reduction="sum"))
            correct += int((logits.argmax(1) == yte[i:i + 256]).sum())
    tail = losses[-max(1, steps // 5):]
    return {
        "accuracy": correct / len(xte),
        "test_loss": total_loss / len(xte),
        "train_loss": sum(tail) / len(tail),
        "steps": steps,
        "seconds": time.perf_counter() - t0,
        "params": sum(p.numel() for p in model.parameters()),
        "resolution": res,
    }
