"""lutnas.keys: keys read through the one grammar the C++ traits table writes.

- key_grammar.json is what `lutnas-inspect key-grammar` prints now (scripts/gen-key-grammar
  --check), so the Python side cannot drift from the C++ rows;
- keys.parse_key gives exactly insights.parse_key's output for every key of every shipped
  space (the lead switches insights over at merge);
- keys the grammar does not describe are refused with a message naming the token.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python"))

from lutnas.insights import analysis as insights  # noqa: E402
from lutnas import keys, tools  # noqa: E402

SPACES = sorted((ROOT / "search" / "spaces").glob("*.json"))


def inspect_path():
    try:
        return tools.find_tool("lutnas-inspect")
    except tools.ToolError:
        pytest.skip("lutnas-inspect is not built")


def test_grammar_file_is_current():
    inspect_path()
    r = subprocess.run([str(ROOT / "scripts" / "gen-key-grammar"), "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_grammar_names_every_block_type():
    assert keys.block_types() == ["conv", "repvgg", "mbconv", "fused_mbconv", "shuffle", "csp", "osa",
                                  "basic", "bottleneck", "pool", "c3", "c2f", "sppf"]
    conv = next(b for b in keys.grammar()["blocks"] if b["type"] == "conv")
    assert [t.get("key", t["kind"]) for t in conv["tokens"]] == ["o", "k", "s", "g", "act"]
    assert conv["default_act"] == "relu"


def _round2_parse_key(key):
    """The hand-written parser insights.py had before the shared grammar (kept here as the
    reference the grammar must reproduce)."""
    import re
    kind, _, rest = key.partition(":")
    body, _, shape = rest.rpartition("@")
    cin, h, w = (int(x) for x in shape.split("x"))
    fields, flags, act = {}, [], ""
    for tok in body.split(","):
        if tok in ("relu6", "relu", "hswish", "silu", "identity"):
            act = tok
            continue
        m = re.fullmatch(r"([a-z]+)(\d+)", tok)
        if m:
            fields[m.group(1)] = int(m.group(2))
        elif tok:
            flags.append(tok)
    return {"type": kind, "fields": fields, "act": act, "flags": flags, "cin": cin, "h": h, "w": w}


def test_same_output_as_the_old_parser_for_every_shipped_key():
    inspect_path()
    assert len(SPACES) == 5
    seen_types = set()
    total = 0
    for space in SPACES:
        space_keys = tools.space_keys(space)
        assert len(space_keys) > 40, space
        for key in space_keys:
            assert keys.parse_key(key) == _round2_parse_key(key), key
            assert insights.parse_key(key) == keys.parse_key(key), key  # insights reads keys.py
            seen_types.add(key.split(":")[0])
        total += len(space_keys)
    assert total == 48 + 642 + 300 + 445 + 94  # the C++ golden report's counts
    assert {"conv", "mbconv", "head", "fhead", "c2f", "sppf"} <= seen_types


def test_parse_key_examples():
    assert keys.parse_key("conv:o16,k3,s2,g1,relu@3x64x64") == {
        "type": "conv", "fields": {"o": 16, "k": 3, "s": 2, "g": 1}, "act": "relu", "flags": [],
        "cin": 3, "h": 64, "w": 64}
    p = keys.parse_key("csp:o64,s2,r0.5,n1,bottleneck,silu@32x16x16")
    assert p["fields"] == {"o": 64, "s": 2, "n": 1} and p["flags"] == ["r0.5", "bottleneck"]
    p = keys.parse_key("mbconv:o40,h120,k5,s1,se1,sein,sed1,sesig,sesilu,silu@24x28x28")
    assert p["fields"] == {"o": 40, "h": 120, "k": 5, "s": 1, "se": 1, "sed": 1}
    assert p["flags"] == ["sein", "sesig", "sesilu"] and p["act"] == "silu"
    assert keys.parse_key("fhead:s8-16-32@256x4x4")["flags"] == ["s8-16-32"]
    assert keys.parse_key("pool:max,k3,s2@64x56x56")["act"] == ""


def test_key_values_use_proto_field_names():
    kind, values, shape = keys.key_values("mbconv:o40,h120,k5,s1,se1,sein,ser0.3,sesilu,silu@24x28x28")
    assert kind == "mbconv" and shape == (24, 28, 28)
    assert values == {"out_channels": 40, "hidden_channels": 120, "kernel": 5, "stride": 1, "se": True,
                      "se_options.sein": True, "se_options.ser": 0.3, "se_options.act": "silu", "act": "silu"}
    assert keys.key_values("repvgg:o32,s1,g1,deploy,relu@32x8x8")[1]["deploy"] is True
    assert keys.key_values("fhead:s8-16-32@256x4x4")[1] == {"feature_strides": [8, 16, 32]}
    assert keys.key_values("head:c0,relu,f0,n100@64x4x4")[1] == {
        "conv_channels": 0, "act": "relu", "fc_hidden": 0, "num_classes": 100}


@pytest.mark.parametrize("key, message", [
    ("foo:o16@3x8x8", "unknown block type 'foo'"),
    ("conv:o16,k3,s1,g1,relu", "missing '@CxHxW' input shape"),
    ("conv:o16,k3,s1,g1,relu@3x8", "input shape must be CxHxW"),
    ("o16@3x8x8", "missing 'type:' prefix"),
    ("conv:o16,k3,z4,g1,relu@3x8x8", "token 'z4' is not part of a conv key"),
    ("conv:o16,deploy,relu@3x8x8", "token 'deploy' is not part of a conv key"),
    ("basic:o16,sein,relu@3x8x8", "token 'sein' is not part of a basic key"),
])
def test_bad_keys_name_the_problem(key, message):
    with pytest.raises(keys.KeyGrammarError) as e:
        keys.parse_key(key)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)
