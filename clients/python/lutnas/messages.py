"""Dicts to protobuf messages and back, with the error messages a user needs.

`to_message(value, cls)` accepts a message of that class, a result wrapper
(lutnas.results) around one, or a dict in protobuf's JSON mapping (the format
of models/*.json and search/spaces/*.json). Dicts are checked first, so that
a mistake is reported with the field path in the .proto's snake_case names
("spec.budgets[0].max_sm: unknown field; did you mean 'max_ms'?"), and enum
values may be written as the CLI takes them: any case, with or without the
enum's prefix ("nsga2", "NSGA2", "relu", "succeeded" for JOB_SUCCEEDED).
"""

from __future__ import annotations

import difflib
from typing import Any, Dict, Optional, Type, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from .errors import InvalidArgument
from .results import Result

M = TypeVar("M", bound=Message)


def _invalid(text: str) -> InvalidArgument:
    return InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, text)


def to_message(value: Any, cls: Type[M], what: str = "message") -> M:
    """A cls message from a cls message, a wrapper of one, or a dict in the
    JSON mapping. Raises InvalidArgument naming the field for a bad dict,
    TypeError for anything else."""
    if isinstance(value, Result):
        value = value.proto
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        normalized = _normalize(value, cls.DESCRIPTOR, what)
        try:
            return json_format.ParseDict(normalized, cls())
        except json_format.ParseError as e:
            raise _invalid(f"{what}: {e}") from None
    if isinstance(value, Message):
        raise _invalid(f"{what}: expected {cls.DESCRIPTOR.full_name}, "
                       f"got {value.DESCRIPTOR.full_name}")
    raise TypeError(f"{what}: expected a dict or {cls.DESCRIPTOR.full_name}, "
                    f"got {type(value).__name__}")


def to_dict(msg: Any, defaults: bool = True) -> Dict[str, Any]:
    """A message (or wrapper) as a dict in protobuf's JSON mapping, field
    names as in the .proto. int64 fields come out as strings (the mapping's
    rule); enums as names."""
    if isinstance(msg, Result):
        msg = msg.proto
    d: Dict[str, Any] = json_format.MessageToDict(
        msg, preserving_proto_field_name=True, including_default_value_fields=defaults)
    return d


def enum_value(enum: EnumDescriptor, text: str) -> Optional[str]:
    """The enum value name `text` means, matched without regard to case and
    with or without the enum's common prefix; None when nothing matches."""
    names = [v.name for v in enum.values]
    if text in names:
        return text
    want = text.strip().upper().replace("-", "_")
    if want in names:
        return want
    prefix = _common_prefix(names)
    if prefix and prefix + want in names:
        return prefix + want
    return None


def _common_prefix(names: list[str]) -> str:
    """'JOB_' for JOB_QUEUED, JOB_RUNNING, ... (ignoring *_UNSPECIFIED)."""
    real = [n for n in names if not n.endswith("_UNSPECIFIED")] or names
    first = real[0]
    cut = first.find("_")
    while cut > 0:
        prefix = first[:cut + 1]
        if all(n.startswith(prefix) for n in real):
            return prefix
        break
    return ""


def _normalize(value: Dict[str, Any], desc: Descriptor, path: str) -> Dict[str, Any]:
    """A copy of a dict for desc with enum names resolved; InvalidArgument
    naming the snake_case path of an unknown field or enum value."""
    out: Dict[str, Any] = {}
    by_json = {f.json_name: f for f in desc.fields}
    for key, v in value.items():
        if not isinstance(key, str):
            raise _invalid(f"{path}: field names must be strings, got {key!r}")
        fd = desc.fields_by_name.get(key) or by_json.get(key)
        if fd is None:
            names = [f.name for f in desc.fields]
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise _invalid(f"{path}.{key}: unknown field of {desc.name}{hint} "
                           f"(fields: {', '.join(names)})")
        out[key] = _normalize_field(fd, v, f"{path}.{fd.name}")
    return out


def _normalize_field(fd: FieldDescriptor, v: Any, path: str) -> Any:
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        value_fd = fd.message_type.fields_by_name["value"]
        if isinstance(v, dict):
            return {k: _normalize_one(value_fd, x, f"{path}[{k!r}]") for k, x in v.items()}
        return v
    if fd.label == FieldDescriptor.LABEL_REPEATED and isinstance(v, list):
        return [_normalize_one(fd, x, f"{path}[{i}]") for i, x in enumerate(v)]
    return _normalize_one(fd, v, path)


def _normalize_one(fd: FieldDescriptor, v: Any, path: str) -> Any:
    if isinstance(v, Result):
        v = v.proto
    if isinstance(v, Message):
        return json_format.MessageToDict(v, preserving_proto_field_name=True)
    if fd.enum_type is not None and isinstance(v, str):
        name = enum_value(fd.enum_type, v)
        if name is None:
            values = ", ".join(x.name for x in fd.enum_type.values)
            raise _invalid(f"{path}: unknown {fd.enum_type.name} {v!r} (values: {values})")
        return name
    if fd.message_type is not None and isinstance(v, dict):
        return _normalize(v, fd.message_type, path)
    return v
