"""A tiny CTC training set-up for tests of the trainer, of distributed training and of
decoding weights: random batches, a random tiny model, a short ``TrainConfig``, and two
gloo processes on the CPU.

    model = make_model(seed=2)
    Trainer(model, config(tmp_path, max_update=8), compute_asr_loss, make_batches(8), None).fit()
    spawn_two(worker, tmp_path)   # worker(rank, 2, str(tmp_path), port) in 2 processes
                                  # (its first line: rank_env(rank, world, port))
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable, Dict, List, Union

import torch
import torch.multiprocessing as mp
from torch import nn

from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config
from xlsr.train.trainer import TrainConfig

#: Tokens of the tiny model; 0 is the blank, targets use 1..VOCAB-1.
VOCAB = 8


def make_batches(n: int, seed: int = 0, batch: int = 2) -> List[Dict[str, Any]]:
    """Synthetic CTC batches: random audio, random token targets (ids 1..VOCAB-1).

    Returns:
        list: ``n`` batches of ``batch`` utterances of 4000 samples with 3 tokens each, in the
        layout of ``make_dataloader`` (``waveforms``, ``lengths``, ``supervisions.targets``).
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        wav, lengths = padded_batch([4000] * batch, seed=seed * 100 + i)
        targets = [torch.randint(1, VOCAB, (3,), generator=g).tolist() for _ in range(batch)]
        out.append({"waveforms": wav, "lengths": lengths, "supervisions": {"targets": targets}})
    return out


def make_model(seed: int = 0, **encoder_kw: Any) -> CtcModel:
    """A tiny CTC model with random weights and the torch CTC loss, in training mode.

    Args:
        seed: Seed of the encoder's weights.
        **encoder_kw: ``EncoderConfig`` fields over ``tiny_config()`` (e.g.
            ``checkpoint_activations=True``).
    """
    encoder = random_encoder(tiny_config(**encoder_kw), seed=seed).train()
    return CtcModel(encoder, CtcConfig(VOCAB, loss="torch"))


def config(tmp_dir: Union[str, Path], **kw: Any) -> TrainConfig:
    """A short ``TrainConfig`` with ``exp_dir=tmp_dir``: 6 updates at lr 1e-3, weights averaged
    every update, no TensorBoard, seed 1; ``kw`` overrides any field (``exp_dir`` too)."""
    base = dict(
        exp_dir=str(tmp_dir),
        max_update=6,
        lr=1e-3,
        update_freq=1,
        freeze_finetune_updates=0,
        log_interval=1,
        save_every_n=0,
        keep_last_n=0,
        average_period=1,
        valid_interval=0,
        tensorboard=False,
        seed=1,
    )
    return TrainConfig(**{**base, **kw})


def rank_env(rank: int, world: int, port: int) -> None:
    """In a worker of ``spawn_two``: the torch.distributed variables of one machine (the
    trainer joins the gloo group from them) and one CPU thread per process."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)


def spawn_two(worker: Callable[..., None], tmp: Union[str, Path]) -> None:
    """Runs ``worker(rank, 2, str(tmp), port)`` in 2 processes (gloo on a free port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(2, str(tmp), port), nprocs=2, join=True)


def assert_ranks_equal_single(tmp: Union[str, Path], single: nn.Module) -> None:
    """rank0.pt and rank1.pt in ``tmp`` hold the same weights as ``single``."""
    r0, r1 = (torch.load(f"{tmp}/rank{r}.pt") for r in range(2))
    for name, value in single.state_dict().items():
        torch.testing.assert_close(r0[name], r1[name], msg=name)
        if name.endswith("k_proj.bias"):
            # softmax ignores a bias on the keys: its gradient is rounding noise, which Adam
            # scales up to +-lr in a direction that depends on summation order
            continue
        torch.testing.assert_close(r0[name], value, rtol=1e-4, atol=1e-5, msg=name)


#: options of a tiny CLI training run (seconds on a CPU): tiny encoder, one batch per update,
#: no frozen phase, 0.5-2 s cuts in 2.5 s batches, no periodic checkpoints, no TensorBoard
TINY_TRAIN_OPTIONS = [
    "--encoder-preset",
    "xlsr_tiny",
    "--update-freq",
    "1",
    "--freeze-finetune-updates",
    "0",
    "--data-max-duration",
    "2.5",
    "--data-min-cut-duration",
    "0.5",
    "--data-max-cut-duration",
    "2.0",
    "--save-every-n",
    "0",
    "--tensorboard",
    "false",
]


def tiny_train_args(lang_dir, train_cuts, exp_dir) -> list:
    """``xlsr.bin.train`` arguments of a tiny run on ``train_cuts`` into ``exp_dir``."""
    return ["--lang-dir", str(lang_dir), "--train-cuts", str(train_cuts), "--exp-dir", str(exp_dir),
            *TINY_TRAIN_OPTIONS]  # fmt: skip
