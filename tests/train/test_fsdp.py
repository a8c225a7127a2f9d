"""FSDP (the option for XLS-R 2B): 2 gloo processes on the CPU equal one process with the
global batch, with per-layer activation checkpointing on; its checkpoints are full states
that load into a plain model and resume into FSDP."""

import functools
import gc

import pytest
import torch
import torch.distributed as dist

from xlsr.tasks.asr import compute_asr_loss
from xlsr.testing import train as tiny
from xlsr.testing.train import config, make_batches, rank_env, spawn_two
from xlsr.train import checkpoint as ckpt
from xlsr.train.fsdp import fsdp_available, shard_model
from xlsr.train.trainer import Trainer

needs_fsdp = pytest.mark.skipif(
    not fsdp_available(),
    reason=f"FSDP (fully_shard) needs torch >= 2.6, found {torch.__version__}",
)


def make_model(seed=4):
    return tiny.make_model(seed, checkpoint_activations=True)


def _worker(rank, world, tmp, port, first):
    rank_env(rank, world, port)
    share = make_batches(8, seed=5)[rank::world]  # 4 batches per rank, 1 per update
    # the first run stops after its first epoch of 2 updates; the second resumes from it
    cfg = config(
        tmp,
        max_update=4,
        exp_dir=f"{tmp}/fsdp",
        distributed="fsdp",
        max_epochs=1 if first else 1000,
        average_period=2,
    )
    model = make_model(seed=4 if first else 9)  # resumed: everything from the checkpoint
    trainer = Trainer(model, cfg, compute_asr_loss, share[:2] if first else share[2:], None)
    assert trainer.fsdp
    trainer.fit()
    # the sharded model must not outlive its process group: drop every reference to it
    # (the local ``model`` too: with it alive, rank 1 once aborted at exit in a full-suite run)
    del trainer, model
    gc.collect()
    dist.destroy_process_group()


def _spawn(tmp, first):
    spawn_two(functools.partial(_worker, first=first), tmp)


@needs_fsdp
def test_two_process_fsdp_equals_one_process_and_resumes(tmp_path):
    _spawn(tmp_path, first=True)  # checkpoint-2.pt holds the full (gathered) state
    state = ckpt.load_checkpoint(tmp_path / "fsdp" / "checkpoint-2.pt")
    single = make_model()
    Trainer(
        single,
        config(tmp_path / "one", max_update=4, update_freq=2),
        compute_asr_loss,
        make_batches(8, seed=5),
        None,
    ).fit()
    plain = make_model(seed=0)
    plain.load_state_dict(state["model"])  # plain key names: loads into an unwrapped model
    assert state["trainer"]["update"] == 2 and len(state["optimizer"]["state"]) > 0

    # resume under FSDP for 2 more updates: the same as the uninterrupted single process
    _spawn(tmp_path, first=False)
    final = ckpt.load_checkpoint(tmp_path / "fsdp" / "checkpoint-4.pt")["model"]
    for name, value in single.state_dict().items():
        if name.endswith("k_proj.bias"):  # rounding noise scaled up by Adam (see test_trainer)
            continue
        torch.testing.assert_close(final[name], value, rtol=1e-4, atol=1e-5, msg=name)
    avg = ckpt.load_checkpoint(tmp_path / "fsdp" / "averaged.pt")["model"]
    assert set(avg) == set(final)


def test_fsdp_on_an_old_torch_says_what_to_use():
    if fsdp_available():
        pytest.skip("this torch has fully_shard (tested above)")
    with pytest.raises(RuntimeError, match=r"distributed=fsdp needs torch >= 2.6.*distributed=ddp"):
        shard_model(make_model())


def _accumulating_worker(rank, world, tmp, port):
    rank_env(rank, world, port)
    cfg = config(tmp, max_update=2, exp_dir=f"{tmp}/fsdp", distributed="fsdp", update_freq=2)
    Trainer(make_model(), cfg, compute_asr_loss, make_batches(8, seed=5)[rank::world], None).fit()
    dist.destroy_process_group()


@needs_fsdp
def test_fsdp_gradient_accumulation_equals_one_process(tmp_path):
    # update_freq 2 on each of 2 ranks = update_freq 4 in one process
    spawn_two(_accumulating_worker, tmp_path)
    single = make_model()
    Trainer(
        single,
        config(tmp_path / "one", max_update=2, update_freq=4),
        compute_asr_loss,
        make_batches(8, seed=5),
        None,
    ).fit()
    final = ckpt.load_checkpoint(tmp_path / "fsdp" / "checkpoint-2.pt")["model"]
    for name, value in single.state_dict().items():
        if not name.endswith("k_proj.bias"):  # see above
            torch.testing.assert_close(final[name], value, rtol=1e-4, atol=1e-5, msg=name)
