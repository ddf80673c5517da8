"""Issue 17 against the real daemon: the encoded fast path of batch
prediction (FastPredictService), inline-architecture export, the digits
trainer and an EXTERNAL search driven by it through ask/tell."""

import math

import numpy as np
import pytest

import lutnas
from lutnas.train import asktell, trainer
from lutnas.fastpredict import EncodedSpace

from conftest import PB, finish, hardware_with_table, tiny_arch

SVC = PB.service_pb2


@pytest.fixture(scope="module")
def hw(module_client):
    hardware_with_table(module_client, "scale-hw", scale=0.01)
    return "scale-hw"


def random_job(client, hw, n=40, seed=3):
    job = client.submit({"name": "scale-random", "space": "tiny", "algorithm": "RANDOM",
                         "objective": "PARAMS", "population": n, "generations": 0, "seed": seed,
                         "budgets": [{"hardware": hw, "max_ms": 1e6}]})
    _, final = finish(client, job.id)
    assert final.state == SVC.JOB_SUCCEEDED, final.error
    return list(client.iter_candidates(job_id=job.id))


def test_encoding_describes_the_tiny_space(module_client):
    sp = EncodedSpace(module_client, "tiny")
    # resolution + 3 stages x (width, depth, 2 positions x (type, kernel, expansion))
    assert sp.width == 1 + 3 * (2 + 2 * 3)
    assert sp.names[0] == "resolution" and sp.values[0] == ["64", "96"]
    assert sp.names[1:3] == ["stages[0].width", "stages[0].depth"]
    assert sp.values[sp.names.index("stages[1].blocks[0].type")] == ["REPVGG", "MBCONV", "SHUFFLE"]
    assert sp.decode(np.zeros(sp.width, dtype=np.uint8)) == {
        "resolution": 64,
        "stages": [{"width": 16, "blocks": [{"type": "CONV", "kernel": 3, "expansion": 3}]},
                   {"width": 32, "blocks": [{"type": "REPVGG", "kernel": 3, "expansion": 3}]},
                   {"width": 64, "blocks": [{"type": "REPVGG", "kernel": 3, "expansion": 3}]}]}


def test_encoded_predictions_equal_the_stored_and_batch_ones(module_client, hw):
    cands = random_job(module_client, hw)
    assert len(cands) >= 30
    sp = EncodedSpace(module_client, "tiny")
    rows = np.stack([sp.encode_genotype(c.genotype) for c in cands])
    r = sp.predict(rows, [hw], cost=True, chunk=7)  # several messages on one stream
    assert r["latency_ms"].shape == (len(cands), 1) and r["invalid"] == 0
    assert r["table_versions"] == [1]
    batch = list(module_client.predict_batch([c.arch for c in cands], [hw]))
    for i, c in enumerate(cands):
        assert r["latency_ms"][i, 0] == c.latency[0].latency_ms  # bit-identical
        assert r["latency_ms"][i, 0] == batch[i].predictions[0].latency_ms
        assert (r["params"][i], r["macs"][i]) == (c.params, c.macs)
        assert r["mac_bytes"][i] == batch[i].mac_bytes


def test_encoded_bad_input_names_the_field(module_client, hw):
    sp = EncodedSpace(module_client, "tiny")
    rows = sp.random(10, seed=1)
    with pytest.raises(lutnas.NotFound, match="space: unknown space 'nope'"):
        EncodedSpace(module_client, "nope")
    with pytest.raises(lutnas.NotFound, match=r"hardware\[1\]: "):
        sp.predict(rows, [hw, "no-such-hw"])
    bad = rows.copy()
    bad[4, 0] = 9
    with pytest.raises(lutnas.InvalidArgument,
                       match=r"choices: row 4: resolution: index 9 out of range \(2 choices\)"):
        sp.predict(bad, [hw])
    # Rows in later messages are numbered across the stream.
    with pytest.raises(lutnas.InvalidArgument, match=r"choices: row 4: "):
        sp.predict(bad, [hw], chunk=3)
    r = sp.predict(bad, [hw], skip_invalid=True, cost=True)
    assert r["invalid"] == 1 and math.isnan(r["latency_ms"][4, 0]) and r["params"][4] == -1
    assert np.isfinite(np.delete(r["latency_ms"], 4)).all()
    # A message that is not whole rows.
    stub = PB.service_pb2_grpc.FastPredictServiceStub(module_client._channel)
    reqs = iter([SVC.PredictEncodedRequest(space="tiny", hardware=[hw], choices=b"\0" * (sp.width + 1))])
    with pytest.raises(Exception) as e:
        list(stub.PredictEncoded(reqs))
    assert e.value.code().name == "INVALID_ARGUMENT"
    assert f"not a whole number of rows of {sp.width} bytes" in e.value.details()
    with pytest.raises(lutnas.InvalidArgument, match="hardware: name at least one hardware, or ask for cost"):
        sp.predict(rows, [])
    # The daemon is still serving, with the same answers.
    assert sp.predict(rows, [hw])["latency_ms"].shape == (10, 1)


def test_export_of_an_inline_architecture(module_client):
    arch = lutnas.to_message(tiny_arch(24), PB.arch_pb2.Architecture)
    code = asktell.export_arch(module_client, arch)
    assert "def build_model" in code and "INPUT_SHAPE = (1, 3, 64, 64)" in code
    req = SVC.ExportCandidateRequest(id=5)
    req.arch.CopyFrom(arch)
    with pytest.raises(lutnas.InvalidArgument, match="arch: give either id or arch, not both"):
        module_client._unary(module_client._candidates.Export, req)
    bad = lutnas.to_message(tiny_arch(24, resolution=0), PB.arch_pb2.Architecture)
    with pytest.raises(lutnas.InvalidArgument, match=r"^arch\.resolution"):
        asktell.export_arch(module_client, bad)


@pytest.fixture(scope="module")
def tiny_code(module_client):
    torch = pytest.importorskip("torch")
    del torch
    arch = lutnas.to_message(tiny_arch(24), PB.arch_pb2.Architecture)
    return asktell.export_arch(module_client, arch)


def test_trainer_learns_digits_and_is_reproducible(tiny_code):
    a = trainer.train(tiny_code, steps=40, resolution=16, seed=0)
    b = trainer.train(tiny_code, steps=40, resolution=16, seed=0)
    assert a["accuracy"] == b["accuracy"] and a["train_loss"] == b["train_loss"]
    assert a["accuracy"] > 0.5  # chance is 0.1 (540 test images, 10 classes)
    assert a["resolution"] == 16 and a["steps"] == 40
    c = trainer.train(tiny_code, steps=40, resolution=16, seed=1)
    assert c["train_loss"] != a["train_loss"]  # the seed is used
    with pytest.raises(ValueError, match="steps: must be >= 1, got 0"):
        trainer.train(tiny_code, steps=0)


def test_external_search_driven_by_the_trainer(module_client, hw, tiny_code):
    job = module_client.submit({"name": "scale-external", "space": "tiny", "objective": "EXTERNAL",
                                "population": 4, "sample_size": 2, "generations": 1, "seed": 5,
                                "budgets": [{"hardware": hw, "max_ms": 1e6}]})
    told = {}

    def score(code, cand):
        acc = trainer.train(code, steps=3, resolution=16, seed=0)["accuracy"]
        told[cand.arch_hash] = acc
        return acc

    stats = asktell.run_worker(module_client, job.id, score)
    _, final = finish(module_client, job.id)
    assert final.state == SVC.JOB_SUCCEEDED, final.error
    cands = list(module_client.iter_candidates(job_id=job.id))
    assert stats["told"] == len(told) == len(cands) >= 4
    assert stats["duplicates"] == 0
    for c in cands:
        assert c.score == told[c.arch_hash] and 0.0 <= c.score <= 1.0


def test_encoded_many_hardware_and_rows_stay_under_message_limits(module_client, hw):
    sp = EncodedSpace(module_client, "tiny")
    spec_only = [h.name for h in module_client.list_hardware() if h.peak_gops > 0 and h.bandwidth_gbs > 0]
    hws = ([hw] + spec_only)[:12]
    assert len(hws) >= 4
    rows = sp.random(70000, seed=2)
    r = sp.predict(rows, hws, cost=True, chunk=1 << 20)  # 70k rows x 12 hw x 8 B > 4 MiB: split
    assert r["latency_ms"].shape == (70000, len(hws)) and np.isfinite(r["latency_ms"]).all()
    one = sp.predict(rows, hws[1])
    assert np.array_equal(one["latency_ms"][:, 0], r["latency_ms"][:, 1])
