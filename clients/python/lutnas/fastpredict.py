"""Predictions at batch speed: networks of a named space as rows of choice
indices (numpy uint8), streamed to FastPredictService.PredictEncoded.

    import lutnas
    from lutnas.fastpredict import EncodedSpace
    with lutnas.Client(addr) as c:
        sp = EncodedSpace(c, "tiny")
        rows = sp.random(1_000_000, seed=0)           # (n, sp.width) uint8
        r = sp.predict(rows, ["host-cpu"])             # r["latency_ms"]: (n, 1) float64
        r = sp.predict(rows, ["host-cpu"], cost=True)  # + r["params"], r["macs"], r["mac_bytes"]
        sp.decode(rows[0])                             # {"resolution": 64, "stages": [...]}

The latencies equal PredictBatch's for the same networks (the daemon's
encoded path is pinned bit-identical to its proto path). Row layout: see
EncodingRequest in proto/lutnas/v1/service.proto, or `sp.names`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import grpc
import numpy as np

from .errors import LutnasError, from_rpc_error

if TYPE_CHECKING:
    import numpy.typing as npt


class EncodedSpace:
    """The encoding of one shipped space, fetched from the daemon once."""

    def __init__(self, client: Any, space: str, timeout: Optional[float] = None) -> None:
        self.client = client
        self.space = space
        pb = client.pb
        self._stub = pb.service_pb2_grpc.FastPredictServiceStub(client._channel)
        self._pb = pb.service_pb2
        d = client._unary(self._stub.DescribeEncoding, self._pb.EncodingRequest(space=space), timeout)
        self.width = d.width
        self.names = [s.name for s in d.slots]
        self.values = [list(s.values) for s in d.slots]
        self.choices = np.array([s.choices for s in d.slots], dtype=np.int64)

    def random(self, n: int, seed: int = 0) -> npt.NDArray[np.uint8]:
        """n uniformly random rows (every slot independent). In spaces where
        some block types cannot sit at some positions a few rows are invalid:
        predict(..., skip_invalid=True) answers them with NaN."""
        rng = np.random.default_rng(seed)
        return (rng.random((n, self.width)) * self.choices).astype(np.uint8)

    def encode_genotype(self, genotype: str) -> npt.NDArray[np.uint8]:
        """A candidate's genotype text ("r64|16:conv.3.0,mbconv.3.3|...") -> row."""
        parts = genotype.split("|")
        if not parts[0].startswith("r"):
            raise ValueError(f"genotype: bad resolution in '{genotype}'")
        row = np.zeros(self.width, dtype=np.uint8)
        slot = {n: i for i, n in enumerate(self.names)}

        def put(name: str, value: Union[str, int]) -> None:
            if name not in slot:
                raise ValueError(f"genotype: {name} is not a slot of space '{self.space}'")
            vals = [v.lower() for v in self.values[slot[name]]]
            if str(value).lower() not in vals:
                raise ValueError(f"genotype: {name} = {value} is not a choice of space '{self.space}'")
            row[slot[name]] = vals.index(str(value).lower())

        put("resolution", parts[0][1:])
        blocks: Union[str, List[str]]
        for i, st in enumerate(parts[1:]):
            width, blocks = st.split(":")
            blocks = blocks.split(",")
            put(f"stages[{i}].width", width)
            put(f"stages[{i}].depth", len(blocks))
            for j, b in enumerate(blocks):
                t, k, e = b.split(".")
                put(f"stages[{i}].blocks[{j}].type", t)
                if k != "0":
                    put(f"stages[{i}].blocks[{j}].kernel", k)
                if e != "0":
                    put(f"stages[{i}].blocks[{j}].expansion", e)
        return row

    def decode(self, row: Sequence[int]) -> Dict[str, Any]:
        """One row -> {"resolution", "stages": [{"width", "blocks": [{type, kernel, expansion}]}]}
        (the values as the space names them)."""
        row = [int(v) for v in row]
        out: Dict[str, Any] = {}
        stages: Dict[int, Dict[str, Any]] = {}
        if len(row) != self.width:
            raise ValueError(f"row: {len(row)} values, the space '{self.space}' has {self.width} slots")
        for i, (name, v) in enumerate(zip(self.names, row)):
            if not 0 <= v < self.choices[i]:
                raise ValueError(f"{name}: index {v} out of range ({self.choices[i]} choices)")
            val = self.values[i][v]
            if name == "resolution":
                out["resolution"] = int(val)
                continue
            stage = int(name[len("stages["):name.index("]")])
            st = stages.setdefault(stage, {"width": 0, "depth": 0, "blocks": {}})
            field = name.rsplit(".", 1)[1]
            if ".blocks[" in name:
                j = int(name[name.index(".blocks[") + 8:name.rindex("]")])
                st["blocks"].setdefault(j, {})[field] = val if field == "type" else int(val)
            else:
                st[field] = int(val)
        out["stages"] = [{"width": st["width"],
                          "blocks": [st["blocks"][j] for j in sorted(st["blocks"])][:st["depth"]]}
                         for _, st in sorted(stages.items())]
        return out

    def predict_iter(self, chunks: Iterable[npt.NDArray[np.uint8]], hardware: Union[str, Sequence[str]],
                     cost: bool = False, skip_invalid: bool = False,
                     timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Streams an iterable of row arrays; yields one result dict per chunk, in order."""
        hw: List[str] = [hardware] if isinstance(hardware, str) else list(hardware)
        pb = self._pb
        width = self.width

        def requests() -> Iterator[Any]:
            first = True
            for rows in chunks:
                rows = np.ascontiguousarray(rows, dtype=np.uint8)
                if rows.ndim != 2 or rows.shape[1] != width:
                    raise ValueError(f"rows: shape {rows.shape}, expected (n, {width})")
                if first:
                    yield pb.PredictEncodedRequest(space=self.space, hardware=hw, cost=cost,
                                                   skip_invalid=skip_invalid, choices=rows.tobytes())
                    first = False
                else:
                    yield pb.PredictEncodedRequest(choices=rows.tobytes())

        nh = len(hw)
        call = self._stub.PredictEncoded(requests(), timeout=timeout, metadata=self.client._metadata)
        try:
            for r in call:
                out: Dict[str, Any] = {"latency_ms": np.frombuffer(r.latency_ms, dtype="<f8").reshape(r.count, nh),
                       "invalid": r.invalid}
                if r.table_versions:
                    out["table_versions"] = list(r.table_versions)
                if cost:
                    for f in ("params", "macs", "mac_bytes"):
                        out[f] = np.frombuffer(getattr(r, f), dtype="<i8")
                yield out
        except grpc.RpcError as e:  # -> the client's typed errors
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    def predict(self, rows: npt.NDArray[np.uint8], hardware: Union[str, Sequence[str]], cost: bool = False,
                skip_invalid: bool = False, chunk: int = 65536,
                timeout: Optional[float] = None) -> Dict[str, Any]:
        """All rows at once (split into `chunk`-row messages on one stream):
        {"latency_ms": (n, len(hardware)), "invalid": n, "table_versions": [...],
         and with cost "params", "macs", "mac_bytes": (n,)}."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if len(rows) == 0:
            raise ValueError("rows: at least one row is needed")
        if rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"rows: shape {rows.shape}, expected (n, {self.width}) for space '{self.space}'")
        # Each answer must stay under gRPC's default 4 MiB receive limit of this channel.
        nh = 1 if isinstance(hardware, str) else len(hardware)
        chunk = max(1, min(chunk, (3 << 20) // (8 * (nh + (3 if cost else 0)) or 1)))
        parts = list(self.predict_iter((rows[i:i + chunk] for i in range(0, len(rows), chunk)),
                                       hardware, cost, skip_invalid, timeout))
        answered = sum(len(p["latency_ms"]) for p in parts)
        if answered != len(rows):  # the stream ended early (a message the daemon could not parse)
            raise LutnasError(grpc.StatusCode.DATA_LOSS,
                              f"rows: {answered} of {len(rows)} rows answered; the stream ended early")
        out: Dict[str, Any] = {"latency_ms": np.concatenate([p["latency_ms"] for p in parts]),
               "invalid": sum(p["invalid"] for p in parts),
               "table_versions": parts[0].get("table_versions", [])}
        if cost:
            for f in ("params", "macs", "mac_bytes"):
                out[f] = np.concatenate([p[f] for p in parts])
        return out
