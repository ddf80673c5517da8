"""Build hook: generates the gRPC stubs into the wheel (metadata: pyproject.toml).

build_py runs lutnas/_stubs.py's generate() into build/lib/lutnas/_gen and
copies the .proto files to build/lib/lutnas/_proto, so an installed lutnas
never needs protoc or a writable site-packages. Without protoc the build
still succeeds and the stubs are generated at first import instead.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _load_stubs_module():
    spec = importlib.util.spec_from_file_location("_lutnas_stubs", HERE / "lutnas" / "_stubs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        stubs = _load_stubs_module()
        proto_root = stubs.find_proto_root()
        if proto_root is None:
            print("lutnas: no .proto files found; stubs not generated", file=sys.stderr)
            return
        pkg = Path(self.build_lib) / "lutnas"
        dest = pkg / "_proto" / stubs.PROTO_SUBDIR
        if Path(proto_root).resolve() != (pkg / "_proto").resolve():
            shutil.rmtree(pkg / "_proto", ignore_errors=True)
            dest.mkdir(parents=True)
            for f in stubs.proto_files(proto_root):
                shutil.copy2(f, dest / f.name)
        try:
            shutil.rmtree(pkg / "_gen", ignore_errors=True)
            stubs.generate(proto_root, pkg / "_gen")
            (pkg / "_gen" / ".lock").unlink(missing_ok=True)
        except stubs.StubError as e:
            print(f"lutnas: {e}; stubs will be generated at first import", file=sys.stderr)


# Keep lutnas.egg-info out of the source tree (build/ is gitignored).
EGG_BASE = HERE / "build"
EGG_BASE.mkdir(exist_ok=True)
setup(cmdclass={"build_py": BuildPyWithStubs},
      options={"egg_info": {"egg_base": str(EGG_BASE.relative_to(HERE))}})
