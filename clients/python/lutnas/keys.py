"""Latency-table keys, read through the one key grammar.

A key is ``<type>:<token>,<token>,...@CxHxW``, e.g.
``mbconv:o24,e6,k3,s2,se0,relu6@16x56x56``. The grammar (each block type's
tokens in order, activations, squeeze-excite tokens, heads) is written by the
C++ traits table (``lutnas-inspect key-grammar``) into ``key_grammar.json``
next to this file; nothing here restates it. tests/python/test_keys.py checks
that the file is current and that :func:`parse_key` reads every key of every
shipped space as ``insights.parse_key`` always has.

    >>> parse_key("conv:o16,k3,s2,g1,relu@3x64x64")["fields"]
    {'o': 16, 'k': 3, 's': 2, 'g': 1}
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple, TypedDict, Union

__all__ = ["KeyGrammarError", "ParsedKey", "grammar", "block_types", "parse_key", "key_values"]

GRAMMAR_PATH = Path(__file__).resolve().parent / "key_grammar.json"

_INT_TOKEN = re.compile(r"([a-z]+)(\d+)")
_NUM_TOKEN = re.compile(r"([a-z]+)(-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)")

Value = Union[int, float, bool, str, List[int]]


class KeyGrammarError(ValueError):
    """A key the grammar does not describe; the message names the key and the problem."""


class ParsedKey(TypedDict):
    """A key's parts: `fields` holds every letters-then-integer token ("o16"), `act` the
    activation ("" when none), `flags` every other token verbatim (words such as
    "deploy", decimals such as "r0.5"), `cin`/`h`/`w` the input shape."""

    type: str
    fields: Dict[str, int]
    act: str
    flags: List[str]
    cin: int
    h: int
    w: int


@functools.lru_cache(maxsize=1)
def grammar() -> Dict[str, Any]:
    """The key grammar (key_grammar.json) as a dict."""
    with open(GRAMMAR_PATH, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


def block_types() -> List[str]:
    """Every block type's key prefix, in the proto's order ("conv", "repvgg", ...)."""
    return [str(b["type"]) for b in grammar()["blocks"]]


# (token letters or whole word) -> (field name, kind, extra) for one type, built from the grammar.
_Vocab = Tuple[Dict[str, Tuple[str, str]], Dict[str, Tuple[str, Value]]]


@functools.lru_cache(maxsize=None)
def _vocab(kind: str) -> _Vocab:
    g = grammar()
    rows = {str(r["type"]): r for r in list(g["blocks"]) + list(g["heads"])}
    if kind not in rows:
        known = ", ".join(list(rows))
        raise KeyGrammarError(f"unknown block type {kind!r} (known: {known})")
    numeric: Dict[str, Tuple[str, str]] = {}
    words: Dict[str, Tuple[str, Value]] = {}
    for tok in rows[kind]["tokens"]:
        field, tkind = str(tok["field"]), str(tok["kind"])
        if tkind in ("int", "real", "bit", "int_list"):
            numeric[str(tok["key"])] = (field, tkind)
        elif tkind == "word":
            for i, w in enumerate(tok["words"]):
                words[str(w)] = (field, bool(i))
        elif tkind == "enum":
            for w in tok["words"]:
                words[str(w)] = (field, str(w))
        elif tkind == "se":
            if "key" in tok:
                numeric[str(tok["key"])] = (field, "bit")
            for se in g["se_tokens"]:
                key, sk = str(se["key"]), str(se["kind"])
                if sk == "word":
                    words[key] = (f"{field}.{key}", True)
                elif sk == "act_suffix":
                    for act in g["activations"]:
                        words[key + str(act)] = (f"{field}.act", str(act))
                else:
                    numeric[key] = (f"{field}.{key}", sk)
    return numeric, words


def _split(key: str) -> Tuple[str, List[str], Tuple[int, int, int]]:
    kind, colon, rest = key.partition(":")
    if not colon:
        raise KeyGrammarError(f"key {key!r}: missing 'type:' prefix")
    body, at, shape = rest.rpartition("@")
    if not at:
        raise KeyGrammarError(f"key {key!r}: missing '@CxHxW' input shape")
    dims = shape.split(grammar()["shape"]["joiner"])
    if len(dims) != 3 or not all(d.isdigit() for d in dims):
        raise KeyGrammarError(f"key {key!r}: input shape must be CxHxW, got {shape!r}")
    return kind, body.split(","), (int(dims[0]), int(dims[1]), int(dims[2]))


def _number(kind: str, text: str) -> Union[int, float, bool, List[int], None]:
    """The value of a numeric token of `kind`, None when the text does not fit it."""
    if kind == "int":
        return int(text) if text.isdigit() else None
    if kind == "bit":
        return text == "1" if text in ("0", "1") else None
    if kind == "int_list":
        parts = text.split("-")
        return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None
    try:
        return float(text)
    except ValueError:
        return None


def key_values(key: str) -> Tuple[str, Dict[str, Value], Tuple[int, int, int]]:
    """(type, {proto field: value}, (cin, h, w)) of a key, by the grammar's field names:
    ``key_values("conv:o16,k3,s2,g1,relu@3x64x64")`` gives
    ``("conv", {"out_channels": 16, "kernel": 3, "stride": 2, "groups": 1, "act": "relu"},
    (3, 64, 64))``. Squeeze-excite options are "se_options.<token>" (or "se.<token>").
    Raises KeyGrammarError naming the token the grammar does not know."""
    kind, tokens, shape = _split(key)
    numeric, words = _vocab(kind)
    acts = [str(a) for a in grammar()["activations"]]
    values: Dict[str, Value] = {}
    for tok in tokens:
        if tok in acts:
            values["act"] = tok
            continue
        if tok in words:
            field, v = words[tok]
            values[field] = v
            continue
        m = _NUM_TOKEN.fullmatch(tok) or re.fullmatch(r"([a-z]+)([\d-]+)", tok)
        if m and m.group(1) in numeric:
            field, nkind = numeric[m.group(1)]
            v2 = _number(nkind, m.group(2))
            if v2 is not None:
                values[field] = v2
                continue
        raise KeyGrammarError(f"key {key!r}: token {tok!r} is not part of a {kind} key")
    return kind, values, shape


def parse_key(key: str) -> ParsedKey:
    """'conv:o16,k3,s2,g1,relu@3x64x64' -> {type, fields {o: 16, ...}, act, flags, cin, h, w},
    after checking every token against the grammar (KeyGrammarError names the first unknown one)."""
    kind, tokens, (cin, h, w) = _split(key)
    key_values(key)  # validates every token
    acts = [str(a) for a in grammar()["activations"]]
    fields: Dict[str, int] = {}
    flags: List[str] = []
    act = ""
    for tok in tokens:
        if tok in acts:
            act = tok
            continue
        m = _INT_TOKEN.fullmatch(tok)
        if m:
            fields[m.group(1)] = int(m.group(2))
        elif tok:
            flags.append(tok)
    return {"type": kind, "fields": fields, "act": act, "flags": flags, "cin": cin, "h": h, "w": w}
