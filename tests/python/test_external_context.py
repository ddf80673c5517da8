"""Blocks timed in context by a black-box tool (lutnas.measure): what a lone
model pays per run cancels, drift is normalised away by the reference, and
keys that do not reproduce are refused by name.

The "tool" is a Python script written here: a model's time is its ONNX
file's size (its weights: an additive cost, like a runtime's), plus what the
test asks for: a fixed overhead per model, an overhead that grows with the
model's input and output size (read from the ONNX graph), a clock that
drifts with every call, or noise for the models of one key."""

import json
import sys
import textwrap

import pytest

from lutnas.measure import external
from lutnas.measure import rounds as mrounds
from conftest import ROOT, run_cli, spec_hardware

pytest.importorskip("torch")

PARSE = r"median_ms=([0-9.e+-]+)"
# shape-preserving blocks, blocks that change width/stride, the entry block, the head
KEYS = ["conv:o16,k3,s1,g1,relu@16x16x16",
        "mbconv:o24,e3,k3,s1,se0,relu6@24x16x16",
        "conv:o24,k3,s2,g1,relu@16x32x32",
        "mbconv:o32,e3,k3,s2,se0,relu6@16x24x24",
        "conv:o16,k3,s2,g1,relu@3x64x64",
        "head:c0,relu,f0,n100@64x4x4"]
ENTRY = "conv:o16,k3,s2,g1,relu@3x64x64"

FAKE = textwrap.dedent("""\
    import argparse, os, random, sys

    def varint(b, i):
        v = s = 0
        while True:
            c = b[i]; i += 1; v |= (c & 0x7F) << s; s += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            k, i = varint(b, i)
            f, w = k >> 3, k & 7
            if w == 0:
                v, i = varint(b, i)
            elif w == 1:
                v, i = b[i:i + 8], i + 8
            elif w == 5:
                v, i = b[i:i + 4], i + 4
            else:
                n, i = varint(b, i); v, i = b[i:i + n], i + n
            yield f, v

    def numel(value_info):  # ValueInfoProto -> TypeProto -> Tensor -> Shape -> dims
        n = 1
        for f, t in fields(value_info):
            if f == 2:
                for f2, tt in fields(t):
                    if f2 == 1:
                        for f3, sh in fields(tt):
                            if f3 == 2:
                                for f4, dim in fields(sh):
                                    for f5, v in fields(dim):
                                        if f5 == 1:
                                            n *= v
        return n

    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--overhead", type=float, default=0.0)  # ms per model
    ap.add_argument("--io", type=float, default=0.0)        # ms per input+output element
    ap.add_argument("--drift", type=float, default=0.0)     # speed change per call
    ap.add_argument("--noisy", default="")                  # key whose models are noisy
    ap.add_argument("--state", default="")                  # the call counter's file
    ap.add_argument("--refuse", default="")                 # an operator the "compiler" lacks
    a = ap.parse_args()
    data = open(a.model, "rb").read()
    if a.refuse and a.refuse.encode() in data:
        print("E compiler: unsupported operator " + a.refuse, file=sys.stderr)
        sys.exit(1)
    ms = len(data) / 1e5 + a.overhead
    if a.io:
        graph = next(v for f, v in fields(data) if f == 7)
        ms += a.io * sum(numel(v) for f, v in fields(graph) if f in (11, 12))
    n = 0
    if a.state:
        n = int(open(a.state).read()) if os.path.exists(a.state) else 0
        open(a.state, "w").write(str(n + 1))
    ms *= 1 + a.drift * n
    key = os.environ.get("LUTNAS_KEY", "")
    if a.noisy and key.startswith(a.noisy + "|"):
        ms *= 1 + 2 * random.Random(n).random()
    print("median_ms=%.9f" % ms)
""")


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    p = tmp_path_factory.mktemp("fake") / "fake_tool.py"
    p.write_text(FAKE)
    return p


def command(fake, *flags):
    return " ".join([sys.executable, str(fake), "{model}", *flags])


def table(fake, *flags, keys=KEYS, rounds=2, max_rounds=2, k=3):
    runner = external.Runner(command(fake, *flags), PARSE)
    run = external.profile_in_context(keys, runner, rounds=rounds, max_rounds=max_rounds, k=k,
                                      progress=False)
    return {e.key: e for e in run.estimates}, run


@pytest.fixture(scope="module")
def plain(fake):
    return table(fake)[0]


def test_context_cancels_a_fixed_overhead_per_model(fake, plain):
    over, _ = table(fake, "--overhead", "0.7")
    for key in KEYS:
        assert over[key].reproduced and plain[key].reproduced, key
        # a lone model pays the overhead once: today's method carries it into every key
        assert over[key].lone_ms == pytest.approx(plain[key].lone_ms + 0.7, rel=1e-6)
        if key == ENTRY:  # the entry block carries the network's ends, by design
            assert over[key].ms == pytest.approx(plain[key].ms + 0.7, rel=1e-6)
        else:
            assert over[key].ms == pytest.approx(plain[key].ms, rel=1e-6, abs=1e-7), key
    methods = {k: plain[k].method for k in KEYS}
    assert methods[KEYS[0]] == "repeat" and methods[KEYS[2]] == "adapter"
    assert methods[ENTRY] == "lone" and methods[KEYS[-1]] == "adapter"


def test_context_cancels_an_overhead_that_grows_with_input_and_output(fake, plain):
    io, _ = table(fake, "--io", "1e-4")
    for key in KEYS:
        if key == ENTRY:
            continue
        # 16x16x16 in and out: 8192 elements, 0.82 ms a lone model pays
        assert io[key].lone_ms > plain[key].lone_ms + 0.005, key
        assert io[key].ms == pytest.approx(plain[key].ms, rel=1e-6, abs=1e-7), key
    assert io[KEYS[0]].lone_ms - plain[KEYS[0]].lone_ms == pytest.approx(2 * 4096e-4, rel=1e-6)


def test_reference_normalises_a_drifting_clock(fake, plain, tmp_path):
    # the tool's clock slows 3% with every call: the last models run ~3x slower than the first
    state = tmp_path / "calls"
    drift, run = table(fake, "--drift", "0.03", "--state", str(state))
    assert run.rounds.reference_drift() > 0.5
    ratios = [drift[k].ms / plain[k].ms for k in KEYS]
    # one common factor (the run's own reference units), however the order fell
    assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=1e-6)
    assert all(drift[k].reproduced for k in KEYS)
    # without the reference the same timings disagree key by key
    values, _, _ = mrounds.normalise([t if t[2] != "reference" else (t[0], t[1], t[2], None, "x")
                                      for t in run.rounds.log])
    raw = {k: drift[k] for k in KEYS}
    lone_raw = [values[f"{k}|x1"] for k in KEYS]
    spread = [max(v.values()) / min(v.values()) for v in lone_raw]
    assert max(spread) > 1.2
    assert raw  # (the keys' normalised estimates above are the ones stored)


def test_keys_that_do_not_reproduce_are_refused_by_name(fake, tmp_path):
    noisy = KEYS[1]
    est, run = table(fake, "--noisy", noisy, "--state", str(tmp_path / "calls"),
                     max_rounds=4)
    assert [e.key for e in run.refused()] == [noisy]
    assert run.extra_rounds == 2  # the noisy key was re-measured before it was refused
    entries = {e["key"]: e for e in external_entries(run)}
    # left out (estimated and listed as missing by predictions), not stored as failed:
    # a failed entry means the device cannot run the block
    assert noisy not in entries
    assert all(entries[k]["status"] == "ENTRY_MEASURED" for k in KEYS if k != noisy)
    from lutnas.measure.keys import details_of, refusal

    assert refusal(run.refused()[0]).startswith("did not reproduce: halves ")
    (d,) = [k for k in details_of(run)["keys"] if k["key"] == noisy]
    assert d["reproduced"] is False and d["half_a"] != d["half_b"]


def external_entries(run):
    from lutnas.measure.keys import entries_of

    return entries_of(run)


def test_a_tool_that_cannot_run_the_adapter_falls_back_to_lone_times(fake, plain):
    got, _ = table(fake, "--refuse", "ConvTranspose")
    for key in KEYS:
        if plain[key].method == "adapter":
            assert got[key].method == "lone" and got[key].ms == pytest.approx(got[key].lone_ms)
        else:
            assert got[key].method == plain[key].method
            assert got[key].ms == pytest.approx(plain[key].ms, rel=1e-6)


def test_split_halves_judge_relative_to_the_key_or_the_median_key():
    est = [mrounds.KeyEstimate("a", 1.0, 1.0, 1.05), mrounds.KeyEstimate("b", 1.0, 0.8, 1.2),
           mrounds.KeyEstimate("c", 0.01, 0.0, 0.02), mrounds.KeyEstimate("d", 2.0, 2.0, 2.0)]
    mrounds.judge(est)
    # c differs by 0.02 ms, small beside half the median key (0.5 ms): it reproduces
    assert [e.reproduced for e in est] == [True, False, True, True]


def test_keys_file_merges_into_the_latest_version(module_daemon, module_client, fake, tmp_path):
    hw = "ctx-merge"
    module_client.register_hardware(spec_hardware(hw))
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n".join(KEYS[:3]) + "\n")
    second.write_text("\n".join(KEYS[2:4]) + "\n")
    argv = ["--command", command(fake), "--parse", PARSE, "--hardware", hw, "--repeat-k", "3"]
    code, out, err = run_cli(module_daemon.target, "profile-external", "--keys-file", str(first),
                             *argv, timeout=300)
    assert code == 0, err
    v0, _ = module_client.export_table(hw)
    module_client.set_correction(hw, v0.version, scale=1.25, offset_ms=0.0, fitted_on=12)
    v1, e1 = module_client.export_table(hw)
    code, out, err = run_cli(module_daemon.target, "profile-external", "--keys-file",
                             str(second), *argv, timeout=300)
    assert code == 0, err
    assert "merged into version" in out
    v2, e2 = module_client.export_table(hw)
    assert v2.version == v1.version + 1
    assert [e.key for e in e2] == KEYS[:4]  # the earlier keys kept, the new one added
    assert v2.correction.scale == pytest.approx(1.25)  # and the correction
    assert v2.reference_ms == pytest.approx(v1.reference_ms)
    old = {e.key: e.median_ms for e in e1}
    new = {e.key: e.median_ms for e in e2}
    assert new[KEYS[0]] == old[KEYS[0]] and new[KEYS[1]] == old[KEYS[1]]
    code, out, err = run_cli(module_daemon.target, "profile-external", "--keys-file",
                             str(second), "--no-merge", *argv, timeout=300)
    assert code == 0, err
    v3, e3 = module_client.export_table(hw)
    assert [e.key for e in e3] == KEYS[2:4] and v3.correction.scale == 0


def test_validate_external_arch_writes_pairs(module_daemon, module_client, fake, tmp_path):
    hw = "ctx-pairs"
    module_client.register_hardware(spec_hardware(hw))
    archs = [ROOT / "search" / "spaces" / "tiny.json"]
    from lutnas import tools

    sample = json.loads(tools._run([tools.find_tool("lutnas-inspect"), "--space", str(archs[0]),
                                    "--sample", "2", "--seed", "3"]))
    files = []
    for i, d in enumerate(sample):
        p = tmp_path / f"net{i}.json"
        p.write_text(json.dumps(d["arch"]))
        files.append(str(p))
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(tools.space_keys(str(archs[0]))) + "\n")
    argv = ["--command", command(fake), "--parse", PARSE, "--hardware", hw]
    code, out, err = run_cli(module_daemon.target, "profile-external", "--space",
                             str(archs[0]), "--method", "lone", *argv, timeout=600)
    assert code == 0, err
    pairs = tmp_path / "pairs.json"
    code, out, err = run_cli(module_daemon.target, "validate-external", "--arch", *files,
                             "--pairs-out", str(pairs), *argv, timeout=300)
    assert code == 0, err
    got = json.loads(pairs.read_text())
    assert got["hardware"] == hw and len(got["samples"]) == 2
    assert all(s["measured_ms"] > 0 and s["sum_ms"] > 0 for s in got["samples"])
    assert [s["name"] for s in got["samples"]] == ["net0", "net1"]


def test_profile_validate_accept_noisy_and_next_step(tmp_path):
    from lutnas.measure import profile
    from lutnas import tablefile, tools

    tiny = str(ROOT / "search" / "spaces" / "tiny.json")
    keys = tools.space_keys(tiny)
    costs = tools.key_costs(keys)
    ms = {k: 0.01 + costs[k]["macs"] / 2e8 for k in keys}
    path = tmp_path / "t.csv"
    with open(path, "w") as f:
        tablefile.write_csv([{"key": k, "median_ms": v, "iqr_ms": 0.0, "p10_ms": v, "p90_ms": v,
                              "samples": 5, "status": "ENTRY_MEASURED", "error": ""}
                             for k, v in ms.items()], f,
                            info={"hardware": "host-cpu", "backend": "libtorch", "threads": 1})
    # 3 networks are always too few to store a fit: refused, with what to do next
    refused = profile.validate(tiny, path, samples=3, rounds=3)
    assert refused["accepted"] is False
    assert "samples" in {r["field"] for r in refused["refusals"]}
    assert "accept_noisy=True" in refused["next_step"]
    # accept_noisy reaches lutnas-profile: whatever this machine's noise, none is a refusal
    kept = profile.validate(tiny, path, samples=3, rounds=3, accept_noisy=True)
    fields = {r["field"] for r in kept.get("refusals") or []}
    assert not fields & {"spread", "reference_drift"}, kept["refusals"]
