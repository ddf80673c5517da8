"""scripts/check-layers on the Python package's rooms (issue 26): the SDK at
the package root imports no room, cli is on top, peers do not import each
other, no import cycle, every public module in docs/python-api.md. Written by
scripts/restructure-python."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-layers"


def run(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True)


def tree(tmp_path, files, documented=None):
    pkg = tmp_path / "clients" / "python" / "lutnas"
    for rel, text in files.items():
        p = pkg / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    mods = documented if documented is not None else sorted(
        ".".join(("lutnas",) + pathlib.Path(rel).with_suffix("").parts).replace(".__init__", "")
        for rel in files)
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "python-api.md").write_text("".join(f"## `{m}`\n" for m in mods))
    return tmp_path


BASE = {"__init__.py": "", "client.py": "", "measure/__init__.py": "",
        "measure/external.py": "from .. import client\n", "cli/__init__.py": "",
        "cli/main.py": "from ..measure import external\n"}


def test_the_repository_s_python_rooms_are_layered():
    r = run(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Python: sdk <" in r.stdout


def test_a_well_layered_package_passes(tmp_path):
    r = run(tree(tmp_path, BASE))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_sdk_importing_a_room_fails_with_the_line(tmp_path):
    r = run(tree(tmp_path, dict(BASE, **{"client.py": "import os\nfrom .measure import external\n"})))
    assert r.returncode == 1
    assert "clients/python/lutnas/client.py:2: imports lutnas.measure.external  " \
        "(sdk must not import measure: a higher room)" in r.stdout


def test_a_room_importing_the_cli_fails_also_inside_a_function(tmp_path):
    r = run(tree(tmp_path, dict(BASE, **{
        "measure/external.py": "def f():\n    from ..cli import main\n"})))
    assert r.returncode == 1
    assert "clients/python/lutnas/measure/external.py:2: imports lutnas.cli.main" in r.stdout


def test_peer_rooms_do_not_import_each_other(tmp_path):
    r = run(tree(tmp_path, dict(BASE, **{"train/__init__.py": "",
                                         "train/asktell.py": "from ..measure import external\n"})))
    assert r.returncode == 1
    assert "(train must not import measure: a peer room)" in r.stdout


def test_an_import_cycle_fails_but_not_one_only_for_type_checking(tmp_path):
    files = dict(BASE, **{"measure/a.py": "from . import b\n",
                          "measure/b.py": "def f():\n    from . import a\n"})
    r = run(tree(tmp_path, files))
    assert r.returncode == 1
    assert "import cycle: lutnas.measure.a <-> lutnas.measure.b" in r.stdout
    files["measure/b.py"] = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
    r = run(tree(tmp_path, files))
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_public_module_missing_from_the_api_reference_fails(tmp_path):
    documented = ["lutnas.client", "lutnas.cli", "lutnas.cli.main", "lutnas.measure"]
    r = run(tree(tmp_path, dict(BASE, **{"measure/_private.py": ""}), documented))
    assert r.returncode == 1
    assert "public module lutnas.measure.external is not in docs/python-api.md" in r.stdout
    assert "_private" not in r.stdout
