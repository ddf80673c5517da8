"""`lutnas train` and `lutnas ray-train`: score an EXTERNAL-objective job's
candidates by training them on digits (lutnas.train.trainer), here or on Ray."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable


def _positive(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {v!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _common(c: argparse.ArgumentParser, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    c.add_argument("job", type=_positive, metavar="JOB", help="job id (objective EXTERNAL)")
    c.add_argument("--steps", type=_positive, default=60, help="training steps per candidate (default 60)")
    c.add_argument("--batch", type=_positive, default=64, help="batch size (default 64)")
    c.add_argument("--resolution", type=_positive, default=32,
                   help="digits upscaled to this many pixels (default 32)")
    c.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    json_flag(c)


def add_parser(sub: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    c = sub.add_parser("train", help="score an EXTERNAL job's candidates by training them on digits here",
                       description="Asks the job for candidates one at a time, trains each on "
                       "scikit-learn's digits for a fixed budget and tells its test accuracy, until "
                       "the job ends. Run several at once to share the work.")
    _common(c, json_flag)
    c.add_argument("--max", type=int, default=0, help="stop after telling this many (0: until the job ends)")
    c.set_defaults(func=cmd_train)
    c = sub.add_parser("ray-train", help="the same on a Ray cluster (needs .venv/bin/python)",
                       description="Starts --workers Ray actors that ask, train and tell; a worker "
                       "that dies is replaced and its candidate is asked again. Run with "
                       "LUTNAS_PYTHON=.venv/bin/python scripts/lutnas ray-train ...")
    _common(c, json_flag)
    c.add_argument("--workers", type=_positive, default=2, help="Ray actors (one CPU each; default 2)")
    c.add_argument("--ray-address", default=None,
                   help="ray cluster to join (HEAD:6379, or 'auto'); default: a local Ray")
    c.set_defaults(func=cmd_ray_train)


def cmd_train(args: argparse.Namespace, client: Any) -> int:
    from ..train import asktell
    score = asktell.digits_scorer(steps=args.steps, batch=args.batch, resolution=args.resolution,
                                  seed=args.seed)
    log = None if args.json else (lambda m: print(m, flush=True))
    out = asktell.run_worker(client, args.job, score, max_candidates=args.max, log=log)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"job {args.job}: told {out['told']} scores ({out['duplicates']} already told by others)")
    return 0


def cmd_ray_train(args: argparse.Namespace, client: Any) -> int:
    from ..train import ray_train
    try:
        out = ray_train.run(args.server, args.job, workers=args.workers, ray_address=args.ray_address,
                            steps=args.steps, batch=args.batch, resolution=args.resolution,
                            seed=args.seed, token=args.token, log=None if args.json else print)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=1))
    return 0
