"""Fully sharded data parallel (FSDP) for the large encoders (XLS-R 1B / 2B).

Each Transformer layer of the encoder is its own FSDP unit (torch's ``fully_shard``: its
parameters are gathered only while it runs, and resharded after); the rest (feature
encoder, projections, head) is the root unit. With the encoder's ``checkpoint_activations``
a layer's activations are recomputed in the backward pass, so memory holds the shards, one
gathered layer and the activations of one layer at a time. Checkpoints hold the full
(unsharded) model and optimiser state, gathered on rank 0, so the model loads into a plain
module for decoding, and training resumes under FSDP with any number of processes.

Needs torch >= 2.6 (``torch.distributed.fsdp.fully_shard``; on the CPU with gloo, too).
The k2 lane's torch 1.13 has no ``fully_shard``: use DDP there (``distributed=ddp``).
The optimiser state of an FSDP checkpoint is keyed by parameter name (torch's distributed
checkpoint format), that of a DDP checkpoint by position; so an FSDP run resumes under FSDP.
"""

from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn

from xlsr.models.components import EncoderLayer


def fsdp_available() -> bool:
    """Whether this torch has ``fully_shard`` (torch >= 2.6)."""
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except ImportError:
        return False
    return True


def shard_model(model: nn.Module) -> nn.Module:
    """Shards ``model`` in place: one unit per encoder Transformer layer, then the root.

    Returns:
        ``model`` itself (its class becomes torch's FSDP subclass of it; attributes such as
        ``freeze_encoder`` stay where they were).
    """
    if not fsdp_available():
        raise RuntimeError(
            f"distributed=fsdp needs torch >= 2.6 (torch.distributed.fsdp.fully_shard); found "
            f"{torch.__version__}. Use distributed=ddp on this torch."
        )
    from torch.distributed.fsdp import fully_shard

    for module in model.modules():
        if isinstance(module, EncoderLayer):
            fully_shard(module)
    fully_shard(model)
    return model


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **kw)


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
    """``{"model": ..., "optimizer": ...}`` unsharded on rank 0 (CPU tensors, plain key
    names), empty dicts on the other ranks. Every rank must call it (it gathers)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optim_state = get_state_dict(model, optimizer, options=_options())
    return {"model": model_state, "optimizer": optim_state}


def full_model_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The unsharded model state on rank 0, ``{}`` elsewhere (every rank calls)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options())


def load_full_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_state: Dict[str, Any],
    optim_state: Dict[str, Any],
) -> None:
    """Loads unsharded states (as :func:`full_state` gives them) into the sharded model and
    its optimiser; each rank keeps its shard. Parameters that never had a gradient have no
    optimiser state, so the optimiser part is loaded leniently, the model strictly."""
    from torch.distributed.checkpoint.state_dict import (
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    set_model_state_dict(model, model_state, options=_options())
    set_optimizer_state_dict(model, optimizer, optim_state, options=_options(strict=False))


def local_value(x: torch.Tensor) -> float:
    """A (possibly replicated distributed) scalar tensor as a float."""
    return float(x.full_tensor() if hasattr(x, "full_tensor") else x)
