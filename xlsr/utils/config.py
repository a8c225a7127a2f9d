"""Dataclass configs: command-line options generated from fields, YAML in and out.

Every field becomes ``--field-name``; the comment convention of our configs puts the help on
the field itself (``metadata={"help": ...}`` is used when present). Booleans take
``true/false``; tuples and lists take comma-separated values.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Dict, Sequence, Type, TypeVar, Union

T = TypeVar("T")


def _parse_bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "y"):
        return True
    if v.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {v!r}")


def _field_parser(tp: Any):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union:  # Optional[X]
        inner = [a for a in args if a is not type(None)][0]
        base = _field_parser(inner)
        return lambda v: None if v.lower() in ("none", "null", "") else base(v)
    if tp is bool:
        return _parse_bool
    if origin in (tuple, list, typing.Tuple, typing.List) or tp in (tuple, list):
        elem = _field_parser(args[0]) if args else str
        conv = tuple if origin in (tuple, typing.Tuple) or tp is tuple else list

        def parse_list(v: str):
            parts = [x.strip() for x in v.split(",")] if v.strip() else []
            if any(x == "" for x in parts):
                raise argparse.ArgumentTypeError(f"{v!r} has an empty entry")
            try:
                return conv(elem(x) for x in parts)
            except argparse.ArgumentTypeError as e:
                raise argparse.ArgumentTypeError(f"{e} (in {v!r})") from None

        parse_list.__name__ = "comma-separated list"
        return parse_list
    if tp in (int, float):
        return _number(tp)
    return str


def _number(tp: type):
    """int / float with an argparse message that names the value."""
    noun = "an integer" if tp is int else "a number"

    def parse(v: str):
        try:
            return tp(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{v!r} is not {noun}") from None

    parse.__name__ = tp.__name__
    return parse


def add_dataclass_args(parser: argparse.ArgumentParser, cls: Type, prefix: str = "") -> None:
    """Adds ``--<prefix><field>`` for every field of dataclass ``cls`` (default: unset)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        name = "--" + (prefix + f.name).replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_ = f.metadata.get("help", "") + f" (default: {default})"
        group.add_argument(
            name,
            dest=prefix + f.name,
            type=_field_parser(hints[f.name]),
            default=argparse.SUPPRESS,
            help=help_,
        )


def from_args(cls: Type[T], args: argparse.Namespace, base: Dict[str, Any] = None, prefix=""):
    """Builds ``cls`` from ``base`` (e.g. a YAML dict) overridden by options given on the CLI."""
    values = dict(base or {})
    for f in dataclasses.fields(cls):
        if hasattr(args, prefix + f.name):
            values[f.name] = getattr(args, prefix + f.name)
    return from_dict(cls, values)


def from_dict(cls: Type[T], values: Dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
    hints = typing.get_type_hints(cls)
    fixed = {}
    for k, v in values.items():
        tp = hints[k]
        if isinstance(v, list) and (tp is tuple or typing.get_origin(tp) in (tuple,)):
            v = tuple(v)
        fixed[k] = v
    return cls(**fixed)


def to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def load_layered_yaml(paths: Sequence[Union[str, Path]]) -> Dict[str, Any]:
    """The YAML files of ``paths`` layered in order: a later file's keys replace an earlier
    one's within each section (``train``, ``data``, ``encoder`` ...), and keys of sections
    the earlier files lack are added; a non-mapping value replaces the earlier one whole.

    Example: ``conf/train_asr_ctc.yaml`` then ``utils/conf/xlsr_2b.yaml`` keeps the recipe's
    values and changes only the batch, sharding and activation checkpointing.

    Raises:
        ValueError: naming the file, for invalid YAML, or a section that is a mapping in one
            file and not in the other.
    """
    merged: Dict[str, Any] = {}
    for path in paths:
        for section, values in load_yaml(path).items():
            if section not in merged:
                merged[section] = values
                continue
            old = merged[section]
            if isinstance(old, dict) != isinstance(values, dict):
                raise ValueError(
                    f"{path}: section {section!r} is {type(values).__name__}, but "
                    f"{type(old).__name__} in an earlier --config"
                )
            merged[section] = {**old, **values} if isinstance(values, dict) else values
    return merged


def save_yaml(data: Dict[str, Any], path: Union[str, Path]) -> None:
    import yaml

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_plain(data), sort_keys=False, allow_unicode=True))
