"""Fine-tune (or train from scratch) an XLS-R encoder with a CTC head.

Usage:
    python -m xlsr.bin.train_ctc --config conf/train_ctc.yaml --lang-dir data/lang_bpe_500 \\
        --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \\
        --valid-cuts data/manifests/numbers_cuts_dev.jsonl.gz --exp-dir exp/ctc \\
        [--xlsr-checkpoint xlsr2_300m.pt | --encoder-preset xlsr_tiny] [--max-update 2000] ...
    torchrun --nproc_per_node 2 -m xlsr.bin.train_ctc ...    # DDP (2 processes)

Every field of TrainConfig (``--lr``, ``--max-update`` ...), DataConfig (``--data-*``),
CtcConfig (``--ctc-*``) and the encoder's fine-tuning fields (``--enc-mask-prob`` ...) is an
option; ``--config`` YAML has sections ``train``, ``data``, ``ctc``, ``encoder``. The
resolved config goes to EXP_DIR/config.yaml and into every checkpoint. Re-running the same
command resumes from the newest checkpoint in EXP_DIR.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import List, Optional

from xlsr.data.dataset import DataConfig, filter_cuts, make_dataloader
from xlsr.data.tokenizer import Tokenizer
from xlsr.models import PRESETS, XLSREncoder, load_encoder, preset
from xlsr.models.config import EncoderConfig
from xlsr.models.ctc import CtcConfig, CtcModel, compute_ctc_loss
from xlsr.train.trainer import TrainConfig, Trainer, seed_everything, setup_distributed
from xlsr.utils import config as C
from xlsr.utils.logging import setup_logging

logger = logging.getLogger("xlsr.train_ctc")


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


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=None, help="YAML with train/data/ctc/encoder sections")
    p.add_argument("--lang-dir", required=True, help="lang dir with tokenizer/ and tokens.txt")
    p.add_argument("--train-cuts", required=True)
    p.add_argument("--valid-cuts", default=None)
    p.add_argument("--xlsr-checkpoint", default=None, help="fairseq/HF/our encoder to fine-tune")
    p.add_argument("--encoder-preset", default="xlsr_tiny", choices=sorted(PRESETS))
    C.add_dataclass_args(p, TrainConfig)
    C.add_dataclass_args(p, DataConfig, prefix="data_")
    C.add_dataclass_args(p, CtcConfig, prefix="ctc_")
    C.add_dataclass_args(p, EncoderOverrides, prefix="enc_")
    return p.parse_args(argv)


def build_encoder(args, overrides: dict) -> XLSREncoder:
    if args.xlsr_checkpoint:
        return load_encoder(args.xlsr_checkpoint, **overrides)
    return XLSREncoder(preset(args.encoder_preset, **overrides))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
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
    ctc_cfg = C.from_args(CtcConfig, args, {**yaml_cfg.get("ctc", {}),
                                            "vocab_size": tokenizer.vocab_size}, prefix="ctc_")  # fmt: skip
    seed_everything(train_cfg.seed)  # the model's initialisation follows --seed too
    encoder = build_encoder(args, overrides)
    model = CtcModel(encoder, ctc_cfg)
    run_config = {
        "train": train_cfg, "data": data_cfg, "ctc": ctc_cfg, "encoder": encoder.cfg.to_dict(),
        "lang_dir": str(args.lang_dir), "xlsr_checkpoint": args.xlsr_checkpoint,
    }  # fmt: skip
    if rank == 0:
        C.save_yaml(run_config, exp_dir / "config.yaml")
    logger.info("model: %.2fM parameters, world size %d", sum(p.numel() for p in model.parameters()) / 1e6, world)  # fmt: skip
    train_loader, sampler = make_loader(args.train_cuts, data_cfg, tokenizer, encoder.cfg, True)
    valid_loader = None
    if args.valid_cuts:
        valid_loader, _ = make_loader(args.valid_cuts, data_cfg, tokenizer, encoder.cfg, False)
    trainer = Trainer(model, train_cfg, compute_ctc_loss, train_loader, sampler, valid_loader,
                      C.to_plain(run_config))  # fmt: skip
    trainer.fit()
    return 0


def make_loader(path, data_cfg: DataConfig, tokenizer: Tokenizer, enc_cfg: EncoderConfig, train):
    from lhotse import load_manifest_lazy

    cuts = load_manifest_lazy(path)
    targets = CutTargets(tokenizer)
    # the CTC feasibility filter needs text -> ids; per-language tokenizers need the language
    encode = None if tokenizer.config.per_language else tokenizer.encode
    cuts, _ = filter_cuts(cuts, data_cfg, encode=encode, conv_layers=enc_cfg.conv_layers,
                          train=train)  # fmt: skip
    return make_dataloader(cuts, data_cfg, train, target_fn=targets)


if __name__ == "__main__":
    sys.exit(main())
