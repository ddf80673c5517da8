"""Old module names that forward to their new homes for one release (issue 26).

A shim at an old path calls forward(__name__, new): the old name then *is* the
new module (sys.modules), so attributes, private ones and monkeypatching
included, work as before; importing it warns once. Packages that replaced a
module of the same name forward their old attributes with attribute().
"""

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any, Mapping

MESSAGE = "{old} moved to {new}; the old name goes in the next release"


def forward(old: str, new: str) -> ModuleType:
    """Makes module name `old` the module `new`, with a DeprecationWarning."""
    if old == "__main__":  # python -m lutnas.<old name>
        import runpy

        spec = getattr(sys.modules["__main__"], "__spec__", None)
        warnings.warn(MESSAGE.format(old=spec.name if spec else old, new=new), DeprecationWarning,
                      stacklevel=2)
        runpy.run_module(new, run_name="__main__", alter_sys=True)
        raise SystemExit(0)
    module = importlib.import_module(new)
    # 3: the code that imported the old name (the warnings module skips importlib's frames)
    warnings.warn(MESSAGE.format(old=old, new=new), DeprecationWarning, stacklevel=3)
    sys.modules[old] = module
    return module


def attribute(package: str, moved: Mapping[str, str], name: str) -> Any:
    """Attribute `name` of `package` that moved to module moved[name], with a
    DeprecationWarning; AttributeError for any other name."""
    if name.startswith("__") or name not in moved:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    warnings.warn(MESSAGE.format(old=f"{package}.{name}", new=f"{moved[name]}.{name}"),
                  DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(moved[name]), name)
