"""Training any registered task: options generated once from the dataclasses (TrainConfig,
DataConfig, the task's model config, the encoder's fine-tuning fields), the encoder (preset
or checkpoint), the data loaders, config.yaml, logging and the Trainer.

``python -m xlsr.bin.train --task NAME`` is a thin shell over :func:`train_main`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

from xlsr.data.dataset import DataConfig, filter_cuts, make_dataloader
from xlsr.data.shar import cuts_source
from xlsr.models import PRESETS, XLSREncoder, load_encoder, preset
from xlsr.models.config import EncoderConfig
from xlsr.tasks.base import Task, task_names, task_of_run
from xlsr.train import checkpoint as ckpt
from xlsr.train.trainer import (
    TrainConfig,
    Trainer,
    resolve_global_batch,
    seed_everything,
    setup_distributed,
)
from xlsr.utils import config as C
from xlsr.utils.argtypes import existing_dir, existing_file
from xlsr.utils.logging import setup_logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class EncoderOverrides:
    """Fine-tuning fields of the encoder config (architecture comes from the preset/ckpt)."""

    mask_prob: Optional[float] = None
    mask_length: Optional[int] = None
    mask_channel_prob: Optional[float] = None
    mask_channel_length: Optional[int] = None
    layerdrop: Optional[float] = None
    dropout: Optional[float] = None
    attention_dropout: Optional[float] = None
    activation_dropout: Optional[float] = None
    dropout_input: Optional[float] = None
    feature_grad_mult: Optional[float] = None
    checkpoint_activations: Optional[bool] = None


def parse_args(argv: Optional[List[str]], task: Task, description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--task", default=task.name, choices=task_names(), help="the task to train")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        help=f"YAML with train/data/{task.section}/encoder sections; given again, a later "
        "file's keys override an earlier one's (e.g. a recipe's conf, then utils/conf/xlsr_2b.yaml)",
    )
    p.add_argument(
        "--lang-dir",
        required=True,
        type=existing_dir,
        help="lang dir with tokenizer/ and tokens.txt",
    )
    p.add_argument(
        "--train-cuts",
        required=True,
        type=cuts_source,
        help="cuts manifest, or a directory of Shar shards (python -m xlsr.bin.pack_shar)",
    )
    p.add_argument("--valid-cuts", default=None, type=existing_file)
    p.add_argument(
        "--xlsr-checkpoint",
        default=None,
        help="encoder to fine-tune: fairseq/HF XLS-R, or one of our models (exp dir, "
        "checkpoint, exported dir) of any task",
    )
    p.add_argument("--encoder-preset", default="xlsr_tiny", choices=sorted(PRESETS))
    C.add_dataclass_args(p, TrainConfig)
    C.add_dataclass_args(p, DataConfig, prefix="data_")
    C.add_dataclass_args(p, task.config_cls, prefix=f"{task.section}_")
    C.add_dataclass_args(p, EncoderOverrides, prefix="enc_")
    return p.parse_args(argv)


def build_encoder(args, overrides: dict) -> XLSREncoder:
    """The preset, or the encoder of ``--xlsr-checkpoint``: a fairseq / HF / ``save_encoder``
    checkpoint, or one of our models of any task (exp dir, checkpoint, exported dir)."""
    from xlsr.models.fairseq_hf import apply_overrides
    from xlsr.tasks.load import encoder_of_model

    if args.xlsr_checkpoint:
        encoder = encoder_of_model(args.xlsr_checkpoint)
        if encoder is None:
            return load_encoder(args.xlsr_checkpoint, **overrides)
        if overrides:
            apply_overrides(encoder, overrides)
        return encoder
    return XLSREncoder(preset(args.encoder_preset, **overrides))


def make_loader(
    path, data_cfg: DataConfig, task: Task, targets, enc_cfg: EncoderConfig, train: bool
):
    """Loader and sampler of a manifest: the task's text checks (ASR: unknown symbols), cuts
    filtered by duration and, for CTC, feasibility; an error when nothing is left."""
    from xlsr.data.shar import open_cuts

    cuts = task.check_cuts(open_cuts(path, data_cfg.seed), targets, data_cfg, str(path))
    encode = task.feasibility_encode(targets) if task.ctc_feasible else None
    kept, dropped = filter_cuts(
        cuts, data_cfg, encode=encode, conv_layers=enc_cfg.conv_layers, train=train
    )
    if next(iter(kept), None) is None:  # (kept may be lazy: no len)
        raise ValueError(
            f"{path}: no usable cuts (dropped: {dict(dropped) or 'the manifest is empty'}); "
            "check --data-min-cut-duration / --data-max-cut-duration and the manifest"
        )
    return make_dataloader(kept, data_cfg, train, target_fn=targets, require_text=task.require_text)


def _recorded(old: Mapping[str, Any], section: str, name: str, cls: type) -> Any:
    """``old[section][name]``; a key missing from a recorded section reads as the default of
    ``cls``'s field (a config.yaml written before the field existed: the run used it), a
    missing section as None."""
    values = old.get(section)
    if not isinstance(values, Mapping):
        return None
    if name in values:
        return values[name]
    field = {f.name: f for f in dataclasses.fields(cls)}.get(name)
    if field is None:
        return None
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _differences(old: dict, new: dict, task: Task) -> List[Tuple[str, Any, Any]]:
    """(what, old, new) for every setting that makes ``old``'s checkpoints unusable; an
    architecture field that ``old`` predates counts as its default (:func:`_recorded`)."""
    from xlsr.models.fairseq_hf import ARCH_FIELDS

    pairs = [("task (--task)", task_of_run(old), new["task"])]
    pairs += [
        (
            f"encoder {f} (--encoder-preset / --xlsr-checkpoint)",
            _recorded(old, "encoder", f, EncoderConfig),
            new["encoder"][f],
        )
        for f in sorted(ARCH_FIELDS)
    ]
    if task_of_run(old) == new["task"]:
        pairs += [
            (
                f"{task.section} {f}"
                + (" (the lang dir's tokens.txt)" if f == "vocab_size" else ""),
                _recorded(old, task.section, f, task.config_cls),
                new[task.section][f],
            )
            for f in task.arch_fields
        ]
    if old.get("tokens_hash") is not None:
        pairs.append(
            ("token table (--lang-dir tokens.txt hash)", old["tokens_hash"], new["tokens_hash"])
        )
    return [(what, a, b) for what, a, b in pairs if C.to_plain(a) != C.to_plain(b)]


def check_resumable(exp_dir: Path, run_config: dict, task: Task) -> None:
    """Refuses, before anything is written, options that cannot resume ``exp_dir``'s
    checkpoints (another architecture, head or token table), naming each and both values."""
    config_path = exp_dir / "config.yaml"
    has_ckpt = ckpt.list_checkpoints(exp_dir, "checkpoint") or ckpt.list_checkpoints(
        exp_dir, "epoch"
    )
    if not has_ckpt or not config_path.exists():
        return
    diffs = _differences(C.load_yaml(config_path), run_config, task)
    if diffs:
        lines = "; ".join(f"{what}: was {a!r}, now {b!r}" for what, a, b in diffs)
        raise SystemExit(
            f"{exp_dir} holds checkpoints of another model ({config_path}): {lines}. These "
            f"options cannot resume it: pass another --exp-dir, or delete {exp_dir} to start "
            "again"
        )


def keep_model_files(task: Task, lang_dir: str, exp_dir: Path) -> None:
    """Copies the lang dir files the task keeps next to the model (``Task.model_files``,
    e.g. lid / sid's labels.txt) into the exp dir."""
    from xlsr.utils.io import atomic_write_bytes

    for name in task.model_files:
        atomic_write_bytes(exp_dir / name, (Path(lang_dir) / name).read_bytes())


def apply_global_batch(
    train_cfg: TrainConfig, data_cfg: DataConfig, world: int
) -> Tuple[TrainConfig, DataConfig]:
    """With ``train.global_batch_duration`` set: the update_freq and per-process
    ``data.max_duration`` that give that batch on ``world`` processes (logged, and recorded
    in config.yaml as resolved); otherwise the configs unchanged.

    Raises:
        SystemExit: when the resolved batch is shorter than ``data.max_cut_duration`` (the
            longest cut would never fit), naming both options.
    """
    if train_cfg.global_batch_duration <= 0:
        return train_cfg, data_cfg
    update_freq, max_duration = resolve_global_batch(
        train_cfg.global_batch_duration, data_cfg.max_duration, world
    )
    if max_duration < data_cfg.max_cut_duration:
        raise SystemExit(
            f"train.global_batch_duration {train_cfg.global_batch_duration:g} s on {world} "
            f"processes gives batches of {max_duration:.1f} s, shorter than "
            f"data.max_cut_duration {data_cfg.max_cut_duration:g} s: raise "
            "--global-batch-duration or lower --data-max-cut-duration"
        )
    logger.info(
        "global batch %g s per update: %d process(es) x update_freq %d x batches of %.1f s "
        "(at most data.max_duration %g s)",
        train_cfg.global_batch_duration,
        world,
        update_freq,
        max_duration,
        data_cfg.max_duration,
    )
    return (
        dataclasses.replace(train_cfg, update_freq=update_freq),
        dataclasses.replace(data_cfg, max_duration=max_duration),
    )


def train_main(argv: Optional[List[str]], task: Task, description: str) -> int:
    """Parses the options, builds the model and data, and trains (resuming if possible)."""
    args = parse_args(argv, task, description)
    yaml_cfg = C.load_layered_yaml(args.config)
    train_cfg = C.from_args(TrainConfig, args, yaml_cfg.get("train"))
    data_cfg = C.from_args(DataConfig, args, yaml_cfg.get("data"), prefix="data_")
    enc_over = C.from_args(EncoderOverrides, args, yaml_cfg.get("encoder"), prefix="enc_")
    overrides = {k: v for k, v in dataclasses.asdict(enc_over).items() if v is not None}
    rank, world, _ = setup_distributed()
    exp_dir = Path(train_cfg.exp_dir)
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
    setup_logging(exp_dir / "log" / f"train-{stamp}-rank{rank}.log")
    train_cfg, data_cfg = apply_global_batch(train_cfg, data_cfg, world)
    try:
        targets = task.targets(args.lang_dir)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(
            f"--lang-dir {args.lang_dir}: {e} (build it with the recipe's stage 2)"
        ) from e
    base = {**yaml_cfg.get(task.section, {}), **task.lang_values(targets)}
    head_cfg = C.from_args(task.config_cls, args, base, prefix=f"{task.section}_")
    seed_everything(train_cfg.seed)  # the model's initialisation follows --seed too
    encoder = build_encoder(args, overrides)
    model = task.build_model(encoder, head_cfg)
    run_config = {
        "task": task.name,
        "head": task.section,
        "train": train_cfg,
        "data": data_cfg,
        task.section: head_cfg,
        "encoder": encoder.cfg.to_dict(),
        "lang_dir": str(args.lang_dir),
        "xlsr_checkpoint": args.xlsr_checkpoint,
        "train_cuts": str(args.train_cuts),
        "valid_cuts": str(args.valid_cuts) if args.valid_cuts else None,
        **task.run_facts(targets),
    }
    check_resumable(exp_dir, C.to_plain(run_config), task)  # before config.yaml is rewritten
    if rank == 0:
        C.save_yaml(run_config, exp_dir / "config.yaml")
        keep_model_files(task, args.lang_dir, exp_dir)
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    logger.info("%s model: %.2fM parameters, world size %d", task.name, n_params, world)
    loaders = [
        make_loader(path, data_cfg, task, targets, encoder.cfg, train) if path else (None, None)
        for path, train in ((args.train_cuts, True), (args.valid_cuts, False))
    ]
    (train_loader, sampler), (valid_loader, _) = loaders
    trainer = Trainer(
        model, train_cfg, task.loss, train_loader, sampler, valid_loader, C.to_plain(run_config)
    )
    trainer.fit()
    return 0
