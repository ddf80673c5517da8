"""scripts/check-layers: the include layering of issue 12 is enforced."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-layers"


def run(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True)


def test_the_repository_is_layered():
    r = run(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "base < space < latency_models < db < search < core < server < tools" in r.stdout


def tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_an_upward_include_fails_and_prints_the_line(tmp_path):
    root = tree(tmp_path, {
        "space/space.cc": '#include "space/space.h"\n#include "core/job_manager.h"\n',
        "core/job_manager.h": "#pragma once\n",
    })
    r = run(root)
    assert r.returncode == 1
    assert 'space/space.cc:2: #include "core/job_manager.h"  (space/ is below core/)' in r.stdout


def test_search_may_not_include_db_grpc_or_sqlite(tmp_path):
    root = tree(tmp_path, {
        "search/engine.cc": '#include "db/store.h"\n#include <grpcpp/grpcpp.h>\n#include <sqlite3.h>\n',
    })
    r = run(root)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert any("search/engine.cc:1:" in ln and "must not include db/" in ln for ln in lines)
    assert any("search/engine.cc:2:" in ln and "gRPC outside server/ and tools/" in ln for ln in lines)
    assert any("search/engine.cc:3:" in ln and "sqlite3.h outside db/" in ln for ln in lines)


def test_downward_includes_and_protos_pass(tmp_path):
    root = tree(tmp_path, {
        "server/services.cc": '#include "core/job_manager.h"\n#include "base/file.h"\n'
                              '#include "lutnas/v1/service.grpc.pb.h"\n',
        "tools/profile_main.cc": '#include "server/services.h"\n#include <torch/torch.h>\n',
    })
    r = run(root)
    assert r.returncode == 0, r.stdout
