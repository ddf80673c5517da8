"""Generated protobuf/gRPC stubs, made on demand from proto/lutnas/v1/*.proto.

Stubs are never committed. `load()` makes sure `lutnas/_gen/` holds modules
generated from the current .proto files (regenerating with protoc when the
folder is missing or a proto changed) and returns them. protoc writes them as
`_gen/lutnas/v1/*_pb2.py`, whose imports read `from lutnas.v1 import arch_pb2`.
The real package `lutnas.v1` (lutnas/v1/__init__.py) calls ensure() and sets
its `__path__` to the generated folder, so those imports, and users'
`import lutnas.v1.service_pb2`, work whichever way lutnas was installed
(checkout on PYTHONPATH, pip install, editable) and nothing goes on sys.path.

Where the .proto files come from, first found wins:
  1. $LUTNAS_PROTO_DIR (the folder that holds lutnas/v1/*.proto);
  2. the checkout: clients/python/lutnas/../../../proto;
  3. lutnas/_proto, copied in by the wheel build (setup.py).
A pip install generates at build time, so the installed package never writes;
when it must regenerate and its folder is read-only, stubs go to
$XDG_CACHE_HOME/lutnas/gen-<hash> instead.

Generation runs protoc (`$LUTNAS_PROTOC` or protoc on PATH) with
grpc_python_plugin (`$LUTNAS_GRPC_PYTHON_PLUGIN`, on PATH, or
/usr/bin/grpc_python_plugin), or grpc_tools.protoc where that is installed.
Safe against concurrent processes: one generates under a lock file, into a
temporary folder that is then renamed into place.
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import Any, List, Optional, Union

PathArg = Union[str, "os.PathLike[str]"]

PKG_DIR = Path(__file__).resolve().parent
GEN_DIR = PKG_DIR / "_gen"
PACKAGED_PROTO_DIR = PKG_DIR / "_proto"
PROTO_SUBDIR = Path("lutnas") / "v1"
PROTO_NAMES = ("arch", "space", "table", "service")
STAMP = ".stamp"  # holds the hash of the protos the stubs came from

_lock = threading.Lock()
_loaded: Optional[types.SimpleNamespace] = None


class StubError(RuntimeError):
    """The stubs could not be found or generated (no protoc, no protos)."""


def find_proto_root() -> Optional[Path]:
    """Folder holding lutnas/v1/*.proto, or None when there is none."""
    candidates: List[Path] = []
    env = os.environ.get("LUTNAS_PROTO_DIR")
    if env:
        candidates.append(Path(env))
    if PKG_DIR.parent.name == "python" and PKG_DIR.parent.parent.name == "clients":
        candidates.append(PKG_DIR.parent.parent.parent / "proto")
    candidates.append(PACKAGED_PROTO_DIR)
    for root in candidates:
        if (root / PROTO_SUBDIR / "service.proto").is_file():
            return root
    if env:
        raise StubError(f"LUTNAS_PROTO_DIR={env} has no lutnas/v1/service.proto")
    return None


def proto_files(proto_root: PathArg) -> List[Path]:
    """Every .proto under proto_root/lutnas/v1, sorted."""
    return sorted((Path(proto_root) / PROTO_SUBDIR).glob("*.proto"))


def proto_hash(proto_root: PathArg) -> str:
    """Hash of the proto files' names and contents."""
    h = hashlib.sha256()
    for f in proto_files(proto_root):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _stubs_complete(gen_dir: PathArg) -> bool:
    v1 = Path(gen_dir) / PROTO_SUBDIR
    return all((v1 / f"{n}_pb2.py").is_file() for n in PROTO_NAMES) and (
        v1 / "service_pb2_grpc.py"
    ).is_file()


def is_stale(gen_dir: PathArg, proto_root: PathArg) -> bool:
    """True when gen_dir lacks stubs or they were made from other protos.

    Cheap when nothing changed: the stamp's mtime is compared with the protos'
    first, and only a proto newer than the stamp costs a content hash (so a
    touched but unchanged proto does not regenerate).
    """
    gen_dir = Path(gen_dir)
    stamp = gen_dir / STAMP
    if not stamp.is_file() or not _stubs_complete(gen_dir):
        return True
    newest = max((f.stat().st_mtime for f in proto_files(proto_root)), default=0.0)
    if newest <= stamp.stat().st_mtime:
        return False
    if stamp.read_text().strip() != proto_hash(proto_root):
        return True
    try:
        os.utime(stamp, (newest, newest))  # same content: skip the hash next time
    except OSError:
        pass
    return False


def _find_tool(env_name: str, name: str, fallback: Optional[str] = None) -> Optional[str]:
    """An executable: $env_name if set (None if that is not executable),
    else `name` on PATH, else fallback."""
    env = os.environ.get(env_name)
    if env:
        return env if os.access(env, os.X_OK) else None
    path = shutil.which(name)
    if not path and fallback and os.access(fallback, os.X_OK):
        path = fallback
    return path


def _protoc_command(proto_root: PathArg, out_dir: PathArg, files: List[str]) -> List[str]:
    protoc = _find_tool("LUTNAS_PROTOC", "protoc")
    plugin = _find_tool(
        "LUTNAS_GRPC_PYTHON_PLUGIN", "grpc_python_plugin", "/usr/bin/grpc_python_plugin"
    )
    common = [f"--proto_path={proto_root}", f"--python_out={out_dir}",
              f"--grpc_python_out={out_dir}"]
    if protoc and plugin:
        return [protoc, f"--plugin=protoc-gen-grpc_python={plugin}", *common, *files]
    try:
        import grpc_tools  # noqa: F401  (pip's grpcio-tools, where present)

        return [sys.executable, "-m", "grpc_tools.protoc", *common, *files]
    except ImportError:
        pass
    missing = "protoc" if not protoc else "grpc_python_plugin"
    raise StubError(
        f"cannot generate the lutnas gRPC stubs: {missing} not found "
        "(Debian: apt-get install protobuf-compiler protobuf-compiler-grpc; "
        "or set LUTNAS_PROTOC / LUTNAS_GRPC_PYTHON_PLUGIN)"
    )


def generate(proto_root: PathArg, gen_dir: PathArg) -> None:
    """Generates stubs from proto_root into gen_dir (replacing what is there).

    Layout: gen_dir/lutnas/v1/{arch,space,table,service}_pb2[_grpc].py plus an
    __init__.py, and gen_dir/.stamp with the protos' hash.
    """
    proto_root, gen_dir = Path(proto_root).resolve(), Path(gen_dir).resolve()
    files = proto_files(proto_root)
    if not files:
        raise StubError(f"no .proto files under {proto_root / PROTO_SUBDIR}")
    digest = proto_hash(proto_root)
    gen_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=gen_dir))
    try:
        cmd = _protoc_command(proto_root, tmp, [str(f.relative_to(proto_root)) for f in files])
        res = subprocess.run(cmd, cwd=proto_root, capture_output=True, text=True)
        if res.returncode != 0:
            raise StubError(f"protoc failed ({res.returncode}): {res.stderr.strip()}")
        (tmp / PROTO_SUBDIR / "__init__.py").write_text(
            '"""Generated by lutnas._stubs from lutnas/v1/*.proto. Do not edit."""\n'
        )
        # The outer `lutnas` folder is reached through lutnas.__path__, never
        # imported on its own; no __init__.py so it cannot shadow the package.
        old = gen_dir / f"old-{os.getpid()}-{threading.get_ident()}"
        if (gen_dir / "lutnas").exists():
            os.rename(gen_dir / "lutnas", old)
        os.rename(tmp / "lutnas", gen_dir / "lutnas")
        shutil.rmtree(old, ignore_errors=True)
        stamp_tmp = tmp / STAMP
        stamp_tmp.write_text(digest + "\n")
        os.replace(stamp_tmp, gen_dir / STAMP)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _writable(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return os.access(probe, os.W_OK)


def ensure(gen_dir: Optional[PathArg] = None, proto_root: Optional[PathArg] = None) -> Path:
    """Returns a folder with current stubs, generating them if needed."""
    if proto_root is None:
        proto_root = find_proto_root()
    gen_dir = Path(gen_dir) if gen_dir else GEN_DIR
    if proto_root is None:  # installed without protos: trust what was built
        if _stubs_complete(gen_dir):
            return gen_dir
        raise StubError(
            "no lutnas stubs and no .proto files to make them from "
            "(set LUTNAS_PROTO_DIR to the folder holding lutnas/v1/*.proto)"
        )
    if not is_stale(gen_dir, proto_root):
        return gen_dir
    if not _writable(gen_dir):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        gen_dir = cache / "lutnas" / f"gen-{proto_hash(proto_root)[:16]}"
        if not is_stale(gen_dir, proto_root):
            return gen_dir
    gen_dir.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(gen_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if is_stale(gen_dir, proto_root):  # another process may have won
                generate(proto_root, gen_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return gen_dir


def load() -> Any:
    """Makes sure the stubs are current, imports and returns them.

    Returns a namespace with arch_pb2, space_pb2, table_pb2, service_pb2 and
    service_pb2_grpc (the same modules as `lutnas.v1.*`). Thread-safe.
    """
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        importlib.invalidate_caches()  # _gen may be newer than the finders' caches
        mods = {}
        for name in PROTO_NAMES:
            mods[f"{name}_pb2"] = importlib.import_module(f"{__package__}.v1.{name}_pb2")
        mods["service_pb2_grpc"] = importlib.import_module(f"{__package__}.v1.service_pb2_grpc")
        _loaded = types.SimpleNamespace(**mods)
        return _loaded
