"""What every ASR training entry point shares: options generated from the dataclasses, the
encoder (preset or checkpoint), the data loaders, config.yaml, logging and the Trainer.

A head supplies a :class:`Head`: its config dataclass (options ``--<prefix>*``, YAML section
``<section>``), a model factory and the trainer's loss function.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

from xlsr.data.dataset import DataConfig, filter_cuts, make_dataloader
from xlsr.data.tokenizer import Tokenizer
from xlsr.models import PRESETS, XLSREncoder, load_encoder, preset
from xlsr.models.config import EncoderConfig
from xlsr.train.trainer import TrainConfig, Trainer, seed_everything, setup_distributed
from xlsr.utils import config as C
from xlsr.utils.logging import setup_logging

logger = logging.getLogger("xlsr.train")


@dataclasses.dataclass
class Head:
    name: str  # "ctc", "transducer": the YAML section and the run config key
    config_cls: type  # its config dataclass (with a vocab_size field)
    prefix: str  # option prefix of the config fields ("ctc_" -> --ctc-loss)
    build: Callable[[XLSREncoder, Any], Any]  # (encoder, head config) -> model
    loss_fn: Callable  # the Trainer's (model, batch) -> (loss, info)
    ctc_feasible: bool  # drop cuts with more tokens than frames (CTC); transducers need not


class CutTargets:
    """Token ids of a cut's transcript (per-language tokenizers use the cut's language)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, cut) -> List[int]:
        sup = cut.supervisions[0]
        return self.tokenizer.encode(sup.text, sup.language)


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


def parse_args(argv: Optional[List[str]], head: Head, description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", default=None,
                   help=f"YAML with train/data/{head.name}/encoder sections")  # fmt: skip
    p.add_argument("--lang-dir", required=True, help="lang dir with tokenizer/ and tokens.txt")
    p.add_argument("--train-cuts", required=True)
    p.add_argument("--valid-cuts", default=None)
    p.add_argument("--xlsr-checkpoint", default=None, help="fairseq/HF/our encoder to fine-tune")
    p.add_argument("--encoder-preset", default="xlsr_tiny", choices=sorted(PRESETS))
    C.add_dataclass_args(p, TrainConfig)
    C.add_dataclass_args(p, DataConfig, prefix="data_")
    C.add_dataclass_args(p, head.config_cls, prefix=head.prefix)
    C.add_dataclass_args(p, EncoderOverrides, prefix="enc_")
    return p.parse_args(argv)


def build_encoder(args, overrides: dict) -> XLSREncoder:
    if args.xlsr_checkpoint:
        return load_encoder(args.xlsr_checkpoint, **overrides)
    return XLSREncoder(preset(args.encoder_preset, **overrides))


def make_loader(path, data_cfg: DataConfig, tokenizer: Tokenizer, enc_cfg: EncoderConfig,
                train: bool, ctc_feasible: bool = True):  # fmt: skip
    from lhotse import load_manifest_lazy

    cuts = load_manifest_lazy(path)
    targets = CutTargets(tokenizer)
    # the CTC feasibility filter needs text -> ids; per-language tokenizers need the language
    encode = tokenizer.encode if ctc_feasible and not tokenizer.config.per_language else None
    cuts, _ = filter_cuts(cuts, data_cfg, encode=encode, conv_layers=enc_cfg.conv_layers,
                          train=train)  # fmt: skip
    return make_dataloader(cuts, data_cfg, train, target_fn=targets)


def train_main(argv: Optional[List[str]], head: Head, description: str) -> int:
    """Parses the options, builds the model and data, and trains (resuming if possible)."""
    args = parse_args(argv, head, description)
    yaml_cfg = C.load_yaml(args.config) if args.config else {}
    train_cfg = C.from_args(TrainConfig, args, yaml_cfg.get("train"))
    data_cfg = C.from_args(DataConfig, args, yaml_cfg.get("data"), prefix="data_")
    enc_over = C.from_args(EncoderOverrides, args, yaml_cfg.get("encoder"), prefix="enc_")
    overrides = {k: v for k, v in dataclasses.asdict(enc_over).items() if v is not None}
    rank, world, _ = setup_distributed()
    exp_dir = Path(train_cfg.exp_dir)
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
    setup_logging(exp_dir / "log" / f"train-{stamp}-rank{rank}.log")
    tokenizer = Tokenizer(Path(args.lang_dir) / "tokenizer")
    head_cfg = C.from_args(head.config_cls, args, {**yaml_cfg.get(head.name, {}),
                           "vocab_size": tokenizer.vocab_size}, prefix=head.prefix)  # fmt: skip
    seed_everything(train_cfg.seed)  # the model's initialisation follows --seed too
    encoder = build_encoder(args, overrides)
    model = head.build(encoder, head_cfg)
    run_config = {
        "head": head.name, "train": train_cfg, "data": data_cfg, head.name: head_cfg,
        "encoder": encoder.cfg.to_dict(), "lang_dir": str(args.lang_dir),
        "xlsr_checkpoint": args.xlsr_checkpoint,
    }  # fmt: skip
    if rank == 0:
        C.save_yaml(run_config, exp_dir / "config.yaml")
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    logger.info("%s model: %.2fM parameters, world size %d", head.name, n_params, world)
    loaders = [
        make_loader(path, data_cfg, tokenizer, encoder.cfg, train, head.ctc_feasible)
        if path else (None, None)
        for path, train in ((args.train_cuts, True), (args.valid_cuts, False))
    ]  # fmt: skip
    (train_loader, sampler), (valid_loader, _) = loaders
    trainer = Trainer(model, train_cfg, head.loss_fn, train_loader, sampler, valid_loader,
                      C.to_plain(run_config))  # fmt: skip
    trainer.fit()
    return 0
