"""Reading fairseq / PyTorch checkpoints without fairseq or omegaconf installed.

fairseq checkpoints pickle their configuration: an ``argparse.Namespace`` (legacy ``args``)
or a plain dict, and in some releases omegaconf ``DictConfig`` objects and fairseq enum
values. :func:`torch_load` unpickles with a restricted unpickler: torch, numpy and a few
standard-library classes load as usual, fairseq/omegaconf classes become :class:`StandIn`
records that :func:`to_plain` turns into dicts, lists and strings, and every other class is
refused with an error that names it (a checkpoint cannot run code on load).
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import torch

#: Modules whose classes stand in as records (their code is not needed to read the values).
STAND_IN_MODULES = ("fairseq", "omegaconf", "hydra")
#: Modules whose classes load normally.
ALLOWED_MODULES = ("torch", "numpy", "collections", "argparse", "_codecs", "copyreg", "enum")
ALLOWED_BUILTINS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "bool",
    "str",
    "bytes",
    "bytearray",
    "complex",
    "slice",
    "range",
    "object",
    "getattr",
}


class StandIn:
    """Stands in for a class of fairseq / omegaconf; keeps whatever pickle gives it."""

    _module = ""
    _name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._state: Any = None

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:  # called by copyreg.__newobj__
        obj = super().__new__(cls)
        obj._args, obj._kwargs, obj._state = args, kwargs, None
        return obj

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # dict subclasses pickle items this way
        if not isinstance(self._state, dict):
            self._state = {}
        self._state.setdefault("__items__", {})[key] = value

    def append(self, value: Any) -> None:  # list subclasses
        if not isinstance(self._state, dict):
            self._state = {}
        self._state.setdefault("__list__", []).append(value)

    def extend(self, values: Any) -> None:
        for v in values:
            self.append(v)

    def __repr__(self) -> str:
        return f"StandIn({self._module}.{self._name})"


def _stand_in(module: str, name: str) -> type:
    return type(name, (StandIn,), {"_module": module, "_name": name})


class RestrictedUnpickler(pickle.Unpickler):
    """Loads only allow-listed classes; fairseq / omegaconf classes become StandIns."""

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root in STAND_IN_MODULES:
            return _stand_in(module, name)
        if root in ALLOWED_MODULES or (module == "builtins" and name in ALLOWED_BUILTINS):
            return super().find_class(module, name)
        if module == "pathlib" and name in ("PosixPath", "WindowsPath", "PurePosixPath"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: not a class a checkpoint needs"
        )


class _PickleModule:
    """What ``torch.load(pickle_module=...)`` needs: ``Unpickler`` and ``load``."""

    Unpickler = RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(f: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(f, **kwargs).load()


def torch_load(path: Path) -> Any:
    """``torch.load`` on the CPU through the restricted unpickler.

    torch 1.13's ``torch.load`` replaces any ``pickle_module`` by ``pickle`` unless
    ``weights_only`` is set, so there we call its zip / legacy readers ourselves.
    """
    if int(torch.__version__.split(".")[0]) >= 2:
        return torch.load(
            str(path), map_location="cpu", pickle_module=_PickleModule, weights_only=False
        )
    from torch import serialization as ser

    with open(path, "rb") as f:
        if ser._is_zipfile(f):
            with ser._open_zipfile_reader(f) as zf:
                return ser._load(zf, "cpu", _PickleModule, encoding="utf-8")
        return ser._legacy_load(f, "cpu", _PickleModule, encoding="utf-8")


def to_plain(obj: Any) -> Any:
    """Turns Namespaces, omegaconf nodes, enum stand-ins into plain dicts / lists / values."""
    if isinstance(obj, argparse.Namespace):
        return {k: to_plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    if isinstance(obj, StandIn):
        state = obj._state
        if isinstance(state, dict):
            if "_content" in state:  # omegaconf DictConfig / ListConfig / ValueNode
                return to_plain(state["_content"])
            if "_val" in state:
                return to_plain(state["_val"])
            if "__items__" in state:
                return to_plain(state["__items__"])
            if "__list__" in state:
                return to_plain(state["__list__"])
            return to_plain(state)
        if obj._args:  # enums pickle as Class(value)
            return to_plain(obj._args[0]) if len(obj._args) == 1 else to_plain(list(obj._args))
        return None
    if hasattr(obj, "value") and type(obj).__module__ == "enum":
        return obj.value
    return obj
