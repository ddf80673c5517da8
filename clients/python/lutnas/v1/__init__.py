"""The generated protobuf/gRPC modules: `from lutnas.v1 import service_pb2`.

This package holds no code of its own: importing it makes sure the stubs in
lutnas/_gen are current (see lutnas._stubs) and points its __path__ there, so
the generated modules' own `from lutnas.v1 import arch_pb2` imports work.
"""

from .. import _stubs

__path__[:] = [str(_stubs.ensure() / "lutnas" / "v1")]  # noqa: F821 (package __path__)
