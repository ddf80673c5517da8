"""Latency tables fitted from whole-network measurements.

Model: latency(net) = const + sum_k count_k(net) * t_k, one t_k per key of
the space (what a runtime executes; see the space modules), const the
per-network term (stem, head, reductions, runtime overhead; a space may
replace it for some networks, as NB201 does for a cell with no path).

Fit (`fit_table`), the same for every device:
1. A prior table p (another device's table, `mixture_prior` of several, or
   `cost_model_prior`: MACs and memory access per key) is rescaled to the
   measurements: s = median(y_i / P_i), P_i the prior's prediction.
2. Deviations from s*p are fitted by ridge regression on relative errors
   (each residual divided by the measured latency): t_k = s*p_k + sigma_k*u_k,
   sigma_k = s*max(p_k, 0.1*mean(p)) so every key can move (a prior of 0 too)
   and shrinkage is relative to the key's size. Keys of one group (the
   space's `key_parents`: e.g. one op on different edges) share a deviation
   of prior variance GROUP_VAR and have their own of variance 1/gamma.
3. lambda and gamma are chosen on a grid by the closed-form leave-one-out
   error of ridge (e_i = r_i / (1 - H_ii), one SVD per gamma), with the
   one-standard-error rule (the most shrinkage within one standard error of
   the best): the data decide how far to trust the prior.
4. Robust: Huber weights (k = 1.345 MADs) by iteratively reweighted least
   squares; lambda and gamma are chosen again with the outliers down-weighted.
5. Non-negative: if any key would be negative, the same penalised problem is
   solved as an NNLS (t_k >= 0, const >= 0).
The reported leave-one-out accuracy is that of the ridge solution at the
chosen lambda (closed form; the NNLS clip changes it little).
`suggest` picks the networks to measure next (greedy I-optimal design).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import nnls  # type: ignore[import-untyped]

from .data import Space

Arr = Any  # numpy arrays (float64)

MIN_NETWORKS = 5
LAMBDAS = tuple(10.0 ** e for e in np.arange(-6.0, 4.01, 0.5))
GAMMAS = (1.0, 10.0, 100.0, 1000.0)
LAMBDA_RULE = "1se"
GROUP_VAR = 1.0  # prior variance of a group's shared deviation, in units of its keys' prior size
CONST_SIGMA = 0.1  # the per-network term may move by the mean network (runtime overhead is unknown)
HUBER_K = 1.345
SIGMA_FLOOR = 0.1
# Cost-model prior: ms per MAC and per byte of an edge device of ~10 GMAC/s
# and ~5 GB/s (only the ratio matters: the fit rescales it).
MS_PER_MAC = 1e-7
MS_PER_BYTE = 2e-7


class TooFewNetworks(ValueError):
    """Fewer measured networks than a fit can be trusted with."""


@dataclass
class Table:
    """Per-key latencies (ms) of one device, a per-network constant, and where they came from."""
    space: str
    device: str
    keys: Dict[str, float]
    const_ms: float
    provenance: Dict[str, Any] = field(default_factory=dict)
    loo: Dict[str, float] = field(default_factory=dict)

    def predict_counts(self, counts: Dict[str, int]) -> float:
        return self.const_ms + sum(self.keys.get(k, 0.0) * n for k, n in counts.items())

    def vector(self, key_names: Sequence[str]) -> Arr:
        return np.array([self.keys.get(k, 0.0) for k in key_names] + [self.const_ms])

    def to_json(self) -> Dict[str, Any]:
        return {"format": "lutnas-fitted-table/1", "space": self.space, "device": self.device,
                "const_ms": self.const_ms, "keys": self.keys, "provenance": self.provenance,
                "loo": self.loo}

    @staticmethod
    def from_json(d: Dict[str, Any]) -> "Table":
        if d.get("format") != "lutnas-fitted-table/1":
            raise ValueError("not a lutnas fitted table (format lutnas-fitted-table/1)")
        return Table(str(d["space"]), str(d["device"]), {str(k): float(v) for k, v in d["keys"].items()},
                     float(d["const_ms"]), dict(d.get("provenance", {})), dict(d.get("loo", {})))

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1, sort_keys=True)

    @staticmethod
    def load(path: str) -> "Table":
        with open(path) as f:
            return Table.from_json(json.load(f))


def design(space: Space, archs: Sequence[str]) -> Tuple[List[str], Arr]:
    """(key names, counts matrix with a trailing column of ones)."""
    names = space.key_names()
    index = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(archs), len(names) + 1))
    for i, a in enumerate(archs):
        x[i, -1] = 1.0 if space.has_const(a) else 0.0
        for k, n in space.key_counts(a).items():
            x[i, index[k]] = n
    return names, x


def cost_model_prior(space: Space) -> Table:
    """The cost model as a prior table: MACs and memory access per key."""
    costs = space.key_costs()
    fm, fb = space.fixed_cost()
    return Table(space.name, "cost-model",
                 {k: MS_PER_MAC * m + MS_PER_BYTE * b for k, (m, b) in costs.items()},
                 MS_PER_MAC * fm + MS_PER_BYTE * fb,
                 {"source": "cost model", "ms_per_mac": MS_PER_MAC, "ms_per_byte": MS_PER_BYTE})


def mean_normalised(tables: Sequence[Table], space: Space, archs: Sequence[str]) -> Table:
    """The mean of tables each divided by its mean prediction over archs:
    the shape devices share, to be rescaled by a new device's measurements."""
    names, x = design(space, archs)
    acc = np.zeros(len(names) + 1)
    for t in tables:
        v = t.vector(names)
        acc += v / float(np.mean(x @ v))
    acc /= max(1, len(tables))
    return Table(space.name, "mean-normalised", dict(zip(names, acc[:-1].tolist())), float(acc[-1]),
                 {"source": "mean of normalised tables", "devices": [t.device for t in tables]})


def mixture_prior(space: Space, tables: Sequence[Table], archs: Sequence[str],
                  latencies_ms: Arr, ref_archs: Sequence[str], mu: float = 0.01) -> Table:
    """A prior for a new device from other devices' tables: the non-negative
    combination sum_d w_d T_d that best explains the measured networks
    (relative errors), shrunk toward the mean of the normalised tables
    (each T_d divided by its mean prediction over ref_archs) with weight mu
    per device. Like a hardware embedding, learnt from the measurements."""
    names, xr = design(space, ref_archs)
    _, x = design(space, archs)
    y = np.asarray(latencies_ms, float)
    vs = [t.vector(names) / float(np.mean(xr @ t.vector(names))) for t in tables]
    p = np.stack([x @ v for v in vs], axis=1)  # n x D, each device's normalised prediction
    d = len(vs)
    s0 = float(np.median(y / p.mean(axis=1))) / d  # uniform weights, rescaled
    a = np.vstack([p * s0 / y[:, None], math.sqrt(mu) * np.eye(d)])
    r = np.concatenate([np.ones(len(y)), math.sqrt(mu) * np.ones(d)])
    g, _ = nnls(a, r, maxiter=100 * d)
    w = g * s0
    acc = sum(wi * v for wi, v in zip(w, vs))
    return Table(space.name, "device-mixture", dict(zip(names, np.asarray(acc)[:-1].tolist())),
                 float(np.asarray(acc)[-1]),
                 {"source": "non-negative mixture of other devices' tables",
                  "weights": {t.device: round(float(wi), 6) for t, wi in zip(tables, w)}})


def _huber(r: Arr) -> Arr:
    mad = float(np.median(np.abs(r - np.median(r)))) * 1.4826
    scale = max(mad, 1e-3)
    a = np.abs(r) / scale
    return np.where(a <= HUBER_K, 1.0, HUBER_K / np.maximum(a, 1e-12))


def _ridge_path(a: Arr, r: Arr, lams: Sequence[float], cov: Arr) -> List[Tuple[Arr, Arr]]:
    """For each lam: (u, leave-one-out residuals) of min |a u - r|^2 + lam u^T cov^-1 u,
    i.e. ridge under the prior u ~ N(0, cov / lam). One SVD of a L (cov = L L^T)
    serves every lam: hat diagonal sum_j U_ij^2 s_j^2 / (s_j^2 + lam)."""
    lc = np.linalg.cholesky(cov)
    uu, sv, vt = np.linalg.svd(a @ lc, full_matrices=False)
    ur = uu.T @ r
    u2 = uu ** 2
    out: List[Tuple[Arr, Arr]] = []
    for lam in lams:
        f = sv ** 2 / (sv ** 2 + lam)
        fitted = uu @ (f * ur)
        hdiag = u2 @ f
        coef = lc @ (vt.T @ (sv / (sv ** 2 + lam) * ur))
        out.append((coef, (r - fitted) / np.maximum(1.0 - hdiag, 1e-9)))
    return out


def _ridge(a: Arr, r: Arr, lam: float, cov: Arr) -> Tuple[Arr, Arr]:
    return _ridge_path(a, r, [lam], cov)[0]


def kendall_tau(a: Arr, b: Arr) -> float:
    """Kendall tau-b over the pairs where neither value is NaN (+-inf ranks as extreme)."""
    from scipy.stats import kendalltau  # type: ignore[import-untyped]
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    return float(kendalltau(x[ok], y[ok])[0])


def spearman(a: Arr, b: Arr) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(a, b)[0])


def accuracy(pred: Arr, true: Arr) -> Dict[str, float]:
    """Share within +-10%, MAPE (%), Kendall tau, Spearman of predictions."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    rel = p / t - 1.0
    out = {"within10": float(np.mean(np.abs(rel) <= 0.10)), "mape": float(100 * np.mean(np.abs(rel)))}
    if len(p) > 2:
        out["kendall_tau"] = kendall_tau(p, t)
        out["spearman"] = spearman(p, t)
    return out


def _group_cov(names: Sequence[str], parents: Dict[str, str], gamma: float) -> Arr:
    """Prior covariance of per-key deviations: keys sharing a parent (e.g. one
    op on different edges of a cell) share a deviation of variance 1 and get
    their own of variance 1/gamma; keys without a parent are their own group."""
    groups: Dict[str, List[int]] = {}
    for i, k in enumerate(names):
        groups.setdefault(parents.get(k, k), []).append(i)
    cov = np.eye(len(names)) / gamma
    for idx in groups.values():
        cov[np.ix_(idx, idx)] += GROUP_VAR
    return cov


def fit_table(space: Space, archs: Sequence[str], latencies_ms: Arr, *,
              prior: Optional[Table] = None, device: str = "", robust: bool = True,
              nonneg: bool = True, min_networks: int = MIN_NETWORKS,
              lambdas: Sequence[float] = LAMBDAS, gammas: Sequence[float] = GAMMAS) -> Table:
    """Fits a table from (architecture, measured latency) pairs; see the module doc."""
    y = np.asarray(latencies_ms, float)
    if len(archs) != len(y):
        raise ValueError(f"{len(archs)} architectures but {len(y)} latencies")
    ok = np.isfinite(y) & (y > 0)
    if not ok.all():
        raise ValueError(f"{int((~ok).sum())} latencies are not positive finite numbers")
    if len(set(archs)) < min_networks:
        raise TooFewNetworks(
            f"a table fit needs at least {min_networks} distinct measured networks, got "
            f"{len(set(archs))}: measure more (`lutnas table fit --suggest N` picks the most "
            f"informative ones)")
    t0 = time.time()
    names, x = design(space, archs)
    prior = prior or cost_model_prior(space)
    pv = prior.vector(names)
    p_net = x @ pv
    if not (p_net > 0).all():
        raise ValueError("the prior predicts 0 ms for some networks; it cannot be rescaled")
    s = float(np.median(y / p_net))
    floor = SIGMA_FLOOR * float(np.mean(pv[:-1][pv[:-1] > 0])) if (pv[:-1] > 0).any() else 1.0
    sigma = s * np.maximum(pv, floor)
    sigma[-1] = s * max(pv[-1], float(np.mean(p_net)) * CONST_SIGMA)
    used = np.flatnonzero(x.any(axis=0))  # keys no network has stay at the prior
    all_names = list(names) + ["__const__"]
    used_names = [all_names[i] for i in used]
    parents = space.key_parents()
    wz = (x[:, used] * sigma[used]) / y[:, None]
    r0 = (y - s * p_net) / y  # relative residual of the rescaled prior
    h = np.ones(len(y))
    covs = {g: _group_cov(used_names, parents, g) for g in gammas}

    def select(sh: Arr) -> Tuple[float, float]:
        """(lambda, gamma) by the leave-one-out error of the weighted points."""
        scores: List[Tuple[float, float, float, float]] = []  # (mean, standard error, lam, gamma)
        for g in gammas:
            for lam_, (_, loo_) in zip(lambdas, _ridge_path(wz * sh[:, None], r0 * sh, lambdas, covs[g])):
                e2 = np.minimum(loo_ ** 2, 1.0)  # a wild point counts as 100% error, not more
                scores.append((float(np.mean(e2)), float(np.std(e2) / math.sqrt(len(e2))), lam_, g))
        best = min(scores)
        if LAMBDA_RULE == "1se":  # the most shrinkage within one standard error of the best
            best = max((sc for sc in scores if sc[0] <= best[0] + best[1]), key=lambda sc: (sc[2], sc[3]))
        return best[2], best[3]

    def irls(lam_: float, cov_: Arr, h_: Arr) -> Tuple[Arr, Arr, Arr]:
        """Huber-weighted ridge: (u, leave-one-out residuals, weights)."""
        u_, loo_ = _ridge(wz, r0, lam_, cov_)
        for _ in range(5 if robust else 0):
            h_ = _huber(r0 - wz @ u_)
            sh_ = np.sqrt(h_)
            u_, loo_w = _ridge(wz * sh_[:, None], r0 * sh_, lam_, cov_)
            loo_ = loo_w / np.maximum(sh_, 1e-9)
        return u_, loo_, h_

    lam, gamma = select(h)
    if robust:  # select again with the outliers' weights from a first robust fit
        _, _, h = irls(lam, covs[gamma], h)
        lam, gamma = select(np.sqrt(h))
    cov = covs[gamma]
    u, loo, h = irls(lam, cov, h)
    if nonneg and (s * pv[used] + sigma[used] * u < 0).any():
        # min |A u - r|^2 + lam u^T cov^-1 u subject to t >= 0 (u >= -b0): an
        # NNLS in v = u + b0 with the penalty as extra rows L^T (L L^T = lam cov^-1)
        sh = np.sqrt(h)
        b0 = s * pv[used] / sigma[used]
        lt = np.linalg.cholesky(lam * np.linalg.inv(cov)).T
        a_aug = np.vstack([wz * sh[:, None], lt])
        r_aug = np.concatenate([r0 * sh + (wz * sh[:, None]) @ b0, lt @ b0])
        v, _ = nnls(a_aug, r_aug, maxiter=50 * len(used))
        u = v - b0
    t = s * pv.copy()
    t[used] += sigma[used] * u
    # leave-one-out predictions: relative residual e_i = 1 - pred_i / y_i
    loo_pred = y * (1.0 - loo)
    acc = accuracy(loo_pred, y)
    return Table(space.name, device, dict(zip(names, t[:-1].tolist())), float(t[-1]),
                 {"method": "ridge toward rescaled prior (grouped keys), Huber IRLS, NNLS",
                  "prior": prior.device, "prior_provenance": prior.provenance,
                  "prior_scale": s, "lambda": lam, "gamma": gamma, "networks": len(y),
                  "robust": robust, "nonneg": nonneg, "fit_s": round(time.time() - t0, 3),
                  "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                 {k: round(v, 4) for k, v in acc.items()})


def predict(table: Table, space: Space, archs: Sequence[str]) -> Arr:
    names, x = design(space, archs)
    return np.asarray(x @ table.vector(names), float)


def additive_fit(space: Space, archs: Sequence[str], latencies_ms: Arr
                 ) -> Tuple[List[str], Arr]:
    """The plain baseline: least squares (minimum norm) of latency on the
    space's live op counts (NB201: live edges per op x stage) and a constant."""
    names = sorted({k for a in archs for k in space.baseline_counts(a)})
    x = _baseline_x(space, archs, names)
    coef = np.linalg.lstsq(x, np.asarray(latencies_ms, float), rcond=None)[0]
    return names, coef


def additive_predict(space: Space, names: List[str], coef: Arr,
                     archs: Sequence[str]) -> Arr:
    return np.asarray(_baseline_x(space, archs, names) @ coef, float)


def _baseline_x(space: Space, archs: Sequence[str], names: List[str]) -> Arr:
    index = {k: i for i, k in enumerate(names)}
    x = np.zeros((len(archs), len(names) + 1))
    x[:, -1] = 1.0
    for i, a in enumerate(archs):
        for k, n in space.baseline_counts(a).items():
            if k in index:
                x[i, index[k]] = n
    return x


def suggest(space: Space, candidates: Sequence[str], k: int, *, prior: Optional[Table] = None,
            measured: Sequence[str] = (), lam: float = 1.0, pool: int = 2000, seed: int = 0) -> List[int]:
    """Indices of the k candidates to measure next: greedy I-optimal design
    under the fit's ridge posterior. Each pick is the network whose
    measurement most reduces the summed posterior variance of the relative
    predictions over the candidates (a random `pool` of them stands for the
    rest): informative *and* typical. (Maximal own variance, D-optimality,
    picks extreme networks, tiny or all-dead cells, and fits them well at
    the expense of the typical ones: measured worse than random here.)"""
    names, x = design(space, list(candidates))
    prior = prior or cost_model_prior(space)
    pv = prior.vector(names)
    pos = pv[:-1][pv[:-1] > 0]
    floor = SIGMA_FLOOR * float(np.mean(pos)) if len(pos) else 1.0
    sigma = np.maximum(pv, floor)
    # scaled by the mean prior latency, not each network's own: dividing by a
    # network's prior (relative error) makes the picks all cheap networks
    z = x * sigma / float(np.mean(x @ pv))
    used = np.flatnonzero(z.any(axis=0))
    z = z[:, used]
    rng = np.random.default_rng(seed)
    ref = rng.permutation(len(candidates))[:pool]
    cov = np.eye(z.shape[1]) / lam
    if measured:
        _, xm = design(space, list(measured))
        zm = (xm * sigma / float(np.mean(x @ pv)))[:, used]
        cov = np.linalg.inv(zm.T @ zm + lam * np.eye(z.shape[1]))
    b = z @ cov @ z[ref].T  # posterior covariances, candidates x pool
    own = np.einsum("ij,jk,ik->i", z, cov, z)
    chosen: List[int] = []
    for _ in range(min(k, len(candidates))):
        gain = (b ** 2).sum(axis=1) / (1.0 + own)
        gain[chosen] = -1.0
        i = int(np.argmax(gain))
        chosen.append(i)
        cz = cov @ z[i]
        d = 1.0 + float(z[i] @ cz)
        zc = z @ cz
        b = b - np.outer(zc, zc[ref]) / d
        own = own - zc ** 2 / d
        cov = cov - np.outer(cz, cz) / d
    return chosen
