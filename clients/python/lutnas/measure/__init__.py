"""Measurement room: timing models through tools lutnas does not control.

- context: the models that time a block *inside* a context (the block
  repeated, with a shared shape-restoring context for blocks that change
  shape), so that what a lone model pays once per run cancels;
- rounds: interleaved rounds with a reference model, normalisation by the
  reference, robust per-key estimates and split-half reproducibility.
"""

from .context import ContextPlan, KeyModels, plan_keys
from .rounds import (KeyEstimate, RoundResult, estimate_keys, normalise, reproduces,
                     run_rounds)

__all__ = ["ContextPlan", "KeyModels", "plan_keys", "KeyEstimate", "RoundResult",
           "estimate_keys", "normalise", "reproduces", "run_rounds"]
