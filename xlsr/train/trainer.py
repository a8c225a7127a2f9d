"""The trainer shared by every head and recipe: fine-tuning as fairseq's XLS-R
``finetune.yaml`` does it (Adam, tri-stage LR, frozen encoder for the first updates, update
frequency, sentence-averaged loss, mixed precision), on one CPU/GPU or under torchrun
(DDP, or FSDP for the 2B model), with full-state checkpoints, resume, averaging and TensorBoard.

A task supplies ``loss_fn(model, batch) -> (loss_sum, info)``; ``info`` holds at least
``utterances`` and ``frames`` (the normalisers) and may add counters to log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from xlsr.train import checkpoint as ckpt
from xlsr.train import fsdp
from xlsr.train.schedule import TriStageSchedule
from xlsr.train.skips import SkipMonitor, TrainingDataError

__all__ = ["TrainConfig", "Trainer", "TrainingDataError", "seed_everything", "setup_distributed"]

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Defaults are fairseq's ``examples/wav2vec/xlsr/config/finetune.yaml`` where it sets one."""

    exp_dir: str = "exp"  # checkpoints, logs, tensorboard
    seed: int = 42
    max_update: int = 13000  # optimization.max_update (13k is the paper's CommonVoice value)
    max_epochs: int = 1000  # stop after this many epochs even before max_update
    lr: float = 3e-4  # optimization.lr (peak of the tri-stage schedule)
    adam_betas: Tuple[float, float] = (0.9, 0.98)  # optimizer.adam_betas
    adam_eps: float = 1e-8  # optimizer.adam_eps
    weight_decay: float = 0.0
    phase_ratio: Tuple[float, float, float] = (0.1, 0.4, 0.5)  # lr_scheduler.phase_ratio
    init_lr_scale: float = 0.01  # lr_scheduler.init_lr_scale
    final_lr_scale: float = 0.05  # lr_scheduler.final_lr_scale
    freeze_finetune_updates: int = 10000  # model.freeze_finetune_updates: head only before
    update_freq: int = 5  # optimization.update_freq: batches per update (gradient accumulation)
    # Seconds of audio per update over all processes (fairseq's effective batch: max_tokens x
    # world size x update_freq / 16000; finetune.yaml: 1.28M x 4 x 5 samples = 1600 s). When
    # > 0 it replaces update_freq and caps data.max_duration for the world size that runs it
    # (resolve_global_batch), so one conf gives the paper's batch on 1, 8, 16 or 24 GPUs.
    # 0: update_freq and data.max_duration as given (the batch grows with the world size).
    global_batch_duration: float = 0.0
    sentence_avg: bool = True  # optimization.sentence_avg: normalise by utterances, else frames
    clip_norm: float = 0.0  # optimization.clip_norm (0: no clipping)
    amp: str = "none"  # "none", "fp16" (CUDA, with a grad scaler; fairseq common.fp16) or "bf16"
    log_interval: int = 50  # updates between log lines (fairseq: 200)
    save_every_n: int = 1000  # checkpoint.save_interval_updates
    keep_last_n: int = 1  # checkpoint.keep_interval_updates (0 keeps all)
    average_period: int = 10  # updates between updates of the running averaged model (0: off)
    valid_interval: int = 1000  # updates between validations (also at each epoch end)
    max_nonfinite: int = 20  # consecutive non-finite updates before training stops
    # consecutive updates in which every utterance was skipped (unreadable audio...) before
    # training stops with an error naming the reasons and the first files
    max_skipped_updates: int = 3
    # largest fraction of an epoch's utterances that may be skipped before training stops
    max_skipped_fraction: float = 0.2
    tensorboard: bool = True
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"
    # under torchrun: "ddp" (replicated model) or "fsdp" (sharded per Transformer layer, for
    # XLS-R 1B/2B; add the encoder's checkpoint_activations to recompute activations)
    distributed: str = "ddp"


def resolve_global_batch(global_batch: float, max_duration: float, world: int) -> Tuple[int, float]:
    """(update_freq, max_duration per process and batch) that make ``global_batch`` seconds
    of audio per update on ``world`` processes: the fewest batches per update whose size
    does not exceed ``max_duration``, each ``global_batch / (update_freq * world)`` seconds.

    >>> resolve_global_batch(1600.0, 80.0, 8)     # finetune.yaml's batch on 8 GPUs
    (3, 66.66666666666667)
    >>> resolve_global_batch(3840.0, 160.0, 24)   # the paper's 2B batch (2.56M x 24 samples)
    (1, 160.0)

    Raises:
        ValueError: if an argument is not positive.
    """
    if global_batch <= 0 or max_duration <= 0 or world < 1:
        raise ValueError(
            f"need global_batch_duration > 0, max_duration > 0 and world >= 1, got "
            f"{global_batch}, {max_duration}, {world}"
        )
    update_freq = max(1, math.ceil(global_batch / (max_duration * world) - 1e-9))
    return update_freq, global_batch / (update_freq * world)


def setup_distributed() -> Tuple[int, int, int]:
    """Initialises torch.distributed under torchrun (gloo on CPU, nccl on CUDA).

    Returns:
        (rank, world_size, local_rank); (0, 1, 0) without torchrun.
    """
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _rng_state() -> Dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Runs ``loss_fn`` over ``train_loader`` until ``cfg.max_update``.

    Args:
        model: a ``xlsr.models.base.TaskModel`` (encoder, freeze_encoder, set_num_updates,
            layerdrop_step).
        cfg: training config.
        loss_fn: (model, batch) -> (summed loss, info dict).
        train_loader: yields batches; ``sampler`` its checkpointable sampler.
        valid_loader: optional validation batches.
        run_config: the resolved configuration of the whole run, stored in checkpoints.
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        loss_fn: Callable,
        train_loader,
        sampler,
        valid_loader=None,
        run_config: Optional[dict] = None,
    ) -> None:
        self.cfg, self.loss_fn, self.run_config = cfg, loss_fn, run_config or {}
        self.rank, self.world, local_rank = setup_distributed()
        self.device = self._device(local_rank)
        self.model = model.to(self.device)
        self.train_loader, self.sampler, self.valid_loader = train_loader, sampler, valid_loader
        self.exp_dir = Path(cfg.exp_dir)
        self.fsdp = self.world > 1 and cfg.distributed == "fsdp"
        self.ddp_model = self._wrap(self.model)  # under FSDP the model itself, sharded
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=cfg.lr,
            betas=tuple(cfg.adam_betas),
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
        )
        self.schedule = TriStageSchedule(
            cfg.lr, cfg.max_update, cfg.phase_ratio, cfg.init_lr_scale, cfg.final_lr_scale
        )
        self.scaler = self._grad_scaler()
        self.update, self.epoch, self.nonfinite, self.nonfinite_total = 0, 1, 0, 0
        self.averaged: Optional[Dict[str, torch.Tensor]] = None
        self.num_averaged = 0
        self.audio_seconds = 0.0  # audio trained on in this run (for the throughput line)
        self.skips = SkipMonitor(cfg.max_skipped_updates, cfg.max_skipped_fraction)
        self.writer = self._tensorboard()

    # ------------------------------------------------------------------ set-up
    def _device(self, local_rank: int) -> torch.device:
        if self.cfg.device != "auto":
            return torch.device(self.cfg.device)
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            return torch.device("cuda", local_rank)
        return torch.device("cpu")

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.cfg.distributed not in ("ddp", "fsdp"):
            raise ValueError(f"distributed must be 'ddp' or 'fsdp', got {self.cfg.distributed!r}")
        if self.world <= 1:
            return model
        if self.fsdp:
            return fsdp.shard_model(model)
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # LayerDrop and the frozen encoder leave parameters without gradients in some steps.
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def _grad_scaler(self):
        if self.fsdp:  # the gradients are sharded: the inf check must all-reduce
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

            return ShardedGradScaler(enabled=self.cfg.amp == "fp16")
        return torch.cuda.amp.GradScaler(enabled=self.cfg.amp == "fp16")

    def _tensorboard(self):
        if not self.cfg.tensorboard or self.rank != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            logger.warning("TensorBoard is unavailable (%s); scalars are only logged", e)
            return None
        return SummaryWriter(str(self.exp_dir / "tensorboard"))

    def _autocast(self):
        if self.cfg.amp == "none":
            return contextlib.nullcontext()
        if self.cfg.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 on the CPU")
        dtype = torch.float16 if self.cfg.amp == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ state
    def _model_state(self) -> Dict[str, torch.Tensor]:
        """The full model state (under FSDP: gathered, on rank 0 only; every rank calls)."""
        return fsdp.full_model_state(self.model) if self.fsdp else self.model.state_dict()

    def state_dict(self) -> Dict[str, Any]:
        """The full training state; under FSDP a collective, complete on rank 0 only."""
        if self.fsdp:
            model_optim = fsdp.full_state(self.model, self.optimizer)
        else:
            model_optim = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
            }
        return {
            **model_optim,
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict() if self.sampler is not None else None,
            "rng": _rng_state(),
            "trainer": {
                "update": self.update,
                "epoch": self.epoch,
                "nonfinite_total": self.nonfinite_total,
                "layerdrop_step": self.model.layerdrop_step,
                "skips": self.skips.state_dict(),
            },
            "averaged": self.averaged,
            "num_averaged": self.num_averaged,
            "config": self.run_config,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if self.fsdp:
            fsdp.load_full_state(self.model, self.optimizer, state["model"], state["optimizer"])
        else:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.sampler is not None and state.get("sampler") is not None:
            self.sampler.load_state_dict(state["sampler"])
        t = state["trainer"]
        self.update, self.epoch = t["update"], t["epoch"]
        self.nonfinite_total = t["nonfinite_total"]
        self.model.layerdrop_step = t["layerdrop_step"]
        if "skips" in t:
            self.skips.load_state_dict(t["skips"])
        self.averaged, self.num_averaged = state.get("averaged"), state.get("num_averaged", 0)
        _set_rng_state(state["rng"])

    def resume(self) -> bool:
        """Loads the newest readable checkpoint of ``exp_dir`` if there is one; says which, or
        that training starts from scratch (unreadable files are renamed ``*.unreadable``, or
        keep_last_n would keep them instead of the new checkpoints)."""
        latest, state, broken = ckpt.newest_readable(self.exp_dir)
        if broken and self.rank == 0:
            for p in broken:
                p.rename(p.with_name(p.name + ".unreadable"))
            logger.warning(
                "%s: %d unreadable checkpoint(s) renamed *.pt.unreadable: %s",
                self.exp_dir,
                len(broken),
                [p.name for p in broken],
            )
        if latest is None:
            logger.warning("no readable checkpoint in %s: starting from scratch", self.exp_dir)
            return False
        self.load_state_dict(state)
        logger.info("resumed from %s at update %d, epoch %d", latest, self.update, self.epoch)
        return True

    def save(self, name: str) -> None:
        state = self.state_dict()  # every rank: FSDP gathers the shards
        if self.rank != 0:
            return
        ckpt.save_atomic(state, self.exp_dir / name)
        if self.averaged is not None:
            ckpt.save_atomic(
                {"model": self.averaged, "config": self.run_config, "update": self.update},
                self.exp_dir / "averaged.pt",
            )
        ckpt.remove_old(self.exp_dir, self.cfg.keep_last_n, "checkpoint")
        logger.info("saved %s", self.exp_dir / name)

    # ------------------------------------------------------------------ training
    def fit(self) -> None:
        """Trains to ``max_update`` (or ``max_epochs``), resuming from ``exp_dir`` first."""
        if not self.resume():  # a resumed run continues its saved RNG streams instead
            seed_everything(self.cfg.seed)
        elif self.update >= self.cfg.max_update:
            logger.warning(
                "%s is trained to update %d already, beyond max_update %d: nothing "
                "to train (use another exp dir for a shorter run)",
                self.exp_dir,
                self.update,
                self.cfg.max_update,
            )
        start = time.time()
        while self.update < self.cfg.max_update and self.epoch <= self.cfg.max_epochs:
            if self.sampler is not None:
                self.sampler.set_epoch(self.epoch)
            if not self._train_epoch(start) and self.skips.used + self.skips.skipped == 0:
                raise TrainingDataError(
                    f"epoch {self.epoch} has no training batches: the training cuts are empty "
                    "(after filtering)"
                )
            self.skips.check_epoch(self.epoch)  # a partial (last) epoch is checked too
            if self.update >= self.cfg.max_update:
                break
            self.skips.new_epoch()
            self.validate()
            self.epoch += 1
            self.save(f"epoch-{self.epoch - 1}.pt")
        self.save(f"checkpoint-{self.update}.pt")
        if self.writer is not None:
            self.writer.close()
        logger.info("training done: %d updates, %d epochs", self.update, self.epoch)

    def _train_epoch(self, start: float) -> bool:
        """One pass over the training batches (to max_update); False when there were none."""
        self.model.train()
        pending, stats, seen = [], {}, False
        for batch in self.train_loader:  # no batch is drawn (and consumed) past max_update
            seen = True
            pending.append(batch)
            if len(pending) < self.cfg.update_freq:
                continue
            stats = self._update(pending, stats, start)
            pending = []
            if self.update >= self.cfg.max_update:
                return True
        if pending and self.update < self.cfg.max_update:
            self._update(pending, stats, start)
        return seen

    def _update(self, batches, stats: Dict[str, float], start: float) -> Dict[str, float]:
        """One optimiser update over ``batches`` (update_freq micro-batches)."""
        lr = self.schedule(self.update)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.freeze_encoder = self.update < self.cfg.freeze_finetune_updates
        self.model.set_num_updates(self.update)
        info_sum: Dict[str, float] = {}
        for i, batch in enumerate(batches):
            sync = i == len(batches) - 1 or self.world <= 1
            # FSDP reduce-scatters every micro-batch and accumulates the sharded gradients
            # (fully_shard modules have no no_sync; the sum is the same, the traffic larger)
            # (one no_sync() context around forward and backward: it cannot be entered twice)
            ctx = contextlib.nullcontext() if sync or self.fsdp else self.ddp_model.no_sync()
            with ctx:
                with self._autocast():
                    loss, info = self.loss_fn(self.ddp_model, batch)
                self.scaler.scale(loss).backward()
            for k, v in {"loss": float(loss.detach()), **info}.items():
                info_sum[k] = info_sum.get(k, 0.0) + float(v)
        info_sum["skipped"] = float(self.skips.add_batches(batches))
        totals = self._global_sums(info_sum, ("utterances", "frames", "skipped"))
        self.skips.after_update(self.update + 1, int(totals["utterances"]), int(totals["skipped"]))
        grad_norm = self._step(info_sum, totals)
        self.update += 1
        self._after_update(info_sum, grad_norm, lr, start)
        return info_sum

    def _global_sums(self, info: Dict[str, float], keys) -> Dict[str, float]:
        """``info[key]`` summed over the ranks (one all-reduce)."""
        sums = torch.tensor([info.get(k, 0.0) for k in keys], dtype=torch.float64)
        if self.world > 1:
            dist.all_reduce(sums)
        return dict(zip(keys, sums.tolist()))

    def _step(self, info: Dict[str, float], totals: Dict[str, float]) -> float:
        """Normalises the gradients by the global ``totals``, clips, steps; skips non-finite
        updates."""
        denom_v = max(totals["utterances" if self.cfg.sentence_avg else "frames"], 1.0)
        self.scaler.unscale_(self.optimizer)
        scale = self.world / denom_v  # DDP averaged over ranks; we want the global sum / denom
        params = [p for p in self.model.parameters() if p.grad is not None]
        for p in params:
            p.grad.mul_(scale)
        max_norm = self.cfg.clip_norm if self.cfg.clip_norm > 0 else float("inf")
        # under FSDP the gradients are shards and the norm is over all of them (a collective)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if params else torch.zeros(())
        grad_norm = fsdp.local_value(norm)
        if not math.isfinite(grad_norm) or not math.isfinite(info.get("loss", 0.0)):
            self.nonfinite += 1
            self.nonfinite_total += 1
            logger.warning(
                "update %d: non-finite loss/gradient, skipped (%d in a row)",
                self.update,
                self.nonfinite,
            )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.update()
            if self.nonfinite > self.cfg.max_nonfinite:
                raise RuntimeError(
                    f"{self.nonfinite} non-finite updates in a row at update {self.update}: "
                    "training diverged (lower the LR, check the data, or use amp=none)"
                )
            return grad_norm
        self.nonfinite = 0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _after_update(self, info, grad_norm: float, lr: float, start: float) -> None:
        cfg = self.cfg
        self.audio_seconds += info.get("audio_seconds", 0.0)
        if cfg.average_period > 0 and self.update % cfg.average_period == 0:
            self._update_average()
        if self.update % cfg.log_interval == 0 or self.update == 1:
            self._log(info, grad_norm, lr, start)
        if cfg.save_every_n > 0 and self.update % cfg.save_every_n == 0:
            self.save(f"checkpoint-{self.update}.pt")
        if cfg.valid_interval > 0 and self.update % cfg.valid_interval == 0:
            self.validate()

    def _update_average(self) -> None:
        """Running mean of the weights sampled every ``average_period`` updates."""
        state = self._model_state()
        if self.fsdp and self.rank != 0:  # rank 0 alone holds (and saves) the average
            return
        current = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
        self.num_averaged += 1
        if self.averaged is None:
            self.averaged = current
            return
        w = 1.0 / self.num_averaged
        for k, v in current.items():
            if v.is_floating_point():
                self.averaged[k].mul_(1 - w).add_(v, alpha=w)
            else:
                self.averaged[k] = v

    def _log(self, info: Dict[str, float], grad_norm: float, lr: float, start: float) -> None:
        norm = info.get("utterances" if self.cfg.sentence_avg else "frames", 1.0) or 1.0
        loss = info.get("loss", 0.0) / norm
        elapsed = time.time() - start
        eta = elapsed / max(self.update, 1) * (self.cfg.max_update - self.update)
        frozen = " (encoder frozen)" if self.model.freeze_encoder else ""
        speed = self.audio_seconds / max(elapsed, 1e-9)
        skipped, self.skips.since_log = self.skips.since_log, 0
        terms = []  # the model's loss parts (TaskModel.log_terms), e.g. "nll/tok 0.412"
        for key, per, label, fmt in getattr(self.model, "log_terms", ()):
            if key in info and info.get(per, 0.0) > 0:
                value = info[key] / info[per] * (100.0 if fmt.endswith("%") else 1.0)
                terms.append(f"{label} {value:{fmt.rstrip('%')}}{'%' if fmt.endswith('%') else ''}")
        logger.info(
            "epoch %d update %d/%d loss %.4f%s lr %.2e grad_norm %.2f infeasible %d skipped %d "
            "(epoch %.1f %%) %.1f audio-s/s elapsed %.0fs ETA %.0fs%s",
            self.epoch,
            self.update,
            self.cfg.max_update,
            loss,
            "".join(f" {t}" for t in terms),
            lr,
            grad_norm,
            int(info.get("infeasible", 0)),
            skipped,
            100 * self.skips.fraction,
            speed,
            elapsed,
            eta,
            frozen,
        )
        if self.writer is not None:
            for name, value in (
                ("train/loss", loss),
                ("train/lr", lr),
                ("train/grad_norm", grad_norm),
                ("train/audio_seconds_per_second", speed),
                ("train/skipped_utterances", skipped),
                ("train/skipped_fraction_epoch", self.skips.fraction),
            ):
                self.writer.add_scalar(name, value, self.update)

    @torch.no_grad()
    def validate(self) -> Optional[float]:
        """Loss over the validation set (each rank has its share: the sums are all-reduced)."""
        if self.valid_loader is None:
            return None
        self.model.eval()
        total, norm = 0.0, 0.0
        key = "utterances" if self.cfg.sentence_avg else "frames"
        for batch in self.valid_loader:
            loss, info = self.loss_fn(self.model, batch)
            total, norm = total + float(loss), norm + float(info.get(key, 0.0))
        self.model.train()
        if self.world > 1:
            sums = torch.tensor([total, norm], dtype=torch.float64)
            dist.all_reduce(sums)
            total, norm = sums.tolist()
        value = total / max(norm, 1.0)
        logger.info("validation at update %d: loss %.4f", self.update, value)
        if self.writer is not None:
            self.writer.add_scalar("valid/loss", value, self.update)
        return value
