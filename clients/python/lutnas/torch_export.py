"""Running the PyTorch code lutnasd generates for a candidate.

The daemon's export (CandidateService.Export, format "pytorch") is a
self-contained module defining `build_model()` -> nn.Module and
`INPUT_SHAPE = (1, 3, R, R)`. load_module() executes it; export_onnx() turns
it into ONNX with torch.onnx.export (the format RKNN-Toolkit2 and Ascend ATC
take). Both need torch; callers get TorchMissing with a clear message.

load_module() first checks that the code has the shape lutnasd generates
(check_generated): torch imports, INPUT_SHAPE, class Net, build_model() and
nothing else at module level, so text that slipped out of a comment (a
daemon older than the escaping of names) is refused instead of run.
"""

import ast
import types
from typing import Any, Tuple

_IMPORTS = {"torch", "torch.nn", "torch.nn.functional"}


class TorchMissing(RuntimeError):
    """torch is not importable."""


def require_torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise TorchMissing(
            f"this needs PyTorch, which is not importable ({e}); "
            "install it (Debian: apt-get install python3-torch)") from None
    return torch


def _int_tuple(node: ast.expr) -> bool:
    return isinstance(node, ast.Tuple) and all(
        isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts)


def check_generated(code: str) -> None:
    """ValueError unless `code` has the module-level shape of lutnasd's
    PyTorch export: imports of torch, torch.nn and torch.nn.functional,
    `INPUT_SHAPE = (ints)`, an undecorated `class Net`, `def build_model()`."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ValueError(f"generated code does not parse: line {e.lineno}: {e.msg}") from None
    for node in tree.body:
        if isinstance(node, ast.Import) and all(
                a.name in _IMPORTS and a.asname in (None, "nn", "F") for a in node.names):
            continue
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "INPUT_SHAPE" and _int_tuple(node.value)):
            continue
        if isinstance(node, ast.ClassDef) and node.name == "Net" and not node.decorator_list:
            continue
        if (isinstance(node, ast.FunctionDef) and node.name == "build_model"
                and not node.decorator_list):
            continue
        raise ValueError(f"generated code, line {node.lineno}: a {type(node).__name__} statement "
                         "that lutnasd does not generate; refusing to run it")


def load_module(code: str, name: str = "lutnas_candidate") -> types.ModuleType:
    """Executes generated code as a fresh module and returns it (ValueError,
    before anything runs, when check_generated refuses it)."""
    require_torch()
    check_generated(code)
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102 (daemon output)
    for attr in ("build_model", "INPUT_SHAPE"):
        if not hasattr(module, attr):
            raise ValueError(f"generated code defines no {attr}")
    return module


def build_model(code: str, name: str = "lutnas_candidate") -> Tuple[Any, Tuple[int, ...]]:
    """(model in eval mode, input shape) from generated code."""
    module = load_module(code, name)
    model = module.build_model()
    model.eval()
    return model, tuple(module.INPUT_SHAPE)


def export_onnx(code: str, path: str, opset: int = 13,
                name: str = "lutnas_candidate") -> Tuple[int, ...]:
    """Writes the generated model as ONNX to path; returns the input shape."""
    torch = require_torch()
    model, shape = build_model(code, name)
    dummy = torch.randn(*shape)
    with torch.no_grad():
        out = model(dummy)
        # A feature-map head (detection backbone) returns a tuple of maps.
        names = ([f"features{i}" for i in range(len(out))] if isinstance(out, tuple)
                 else ["logits"])
        torch.onnx.export(model, dummy, path, opset_version=opset, input_names=["input"],
                          output_names=names, do_constant_folding=True)
    return shape
