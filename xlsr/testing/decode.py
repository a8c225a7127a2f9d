"""Tiny exp dirs and test sets for decoding tests: a random CTC or transducer model saved the
way ``xlsr.bin.train_<head>`` saves it, over a lang dir's tokenizer, and a manifest whose
audio files can be made to go missing.

Example:
    >>> paths = make_tiny_lang_dir(tmp_path / "lang", graphs=False)
    >>> exp = make_decode_exp(tmp_path / "exp", tmp_path / "lang")          # checkpoint-1.pt
    >>> cuts = make_test_set(tmp_path / "data", n=5, missing=[1, 2, 4])     # 3 unreadable
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional, Sequence, Union

from xlsr.data.tokenizer import Tokenizer
from xlsr.testing.checkpoints import random_encoder, tiny_config
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.train.checkpoint import save_atomic
from xlsr.utils.fingerprint import short_hash

Pathlike = Union[str, Path]


def tiny_head_model(head: str, vocab_size: int, seed: int = 0):
    """A random ``head`` model ("ctc" or "transducer") on the tiny encoder, eval mode."""
    encoder = random_encoder(tiny_config(), seed=seed)
    if head == "ctc":
        from xlsr.models.ctc import CtcConfig, CtcModel

        return CtcModel(encoder, CtcConfig(vocab_size, loss="torch")).eval()
    if head == "transducer":
        from xlsr.models.transducer import TransducerConfig, TransducerModel

        cfg = TransducerConfig(vocab_size, decoder_dim=16, joiner_dim=16)
        return TransducerModel(encoder, cfg).eval()
    raise ValueError(f"head must be 'ctc' or 'transducer', got {head!r}")


def run_config(model, head: str, lang_dir: Pathlike, tokens_hash: Optional[str] = None) -> dict:
    """The parts of the trainer's run config a decode reads (``config`` of a checkpoint)."""
    table = Path(lang_dir) / "tokenizer" / "tokens.txt"
    return {
        "head": head,
        head: asdict(model.cfg),
        "encoder": model.encoder.cfg.to_dict(),
        "lang_dir": str(lang_dir),
        "tokens_hash": tokens_hash or short_hash(table),
    }


def make_decode_exp(
    exp_dir: Pathlike,
    lang_dir: Pathlike,
    head: str = "ctc",
    updates: Sequence[int] = (1,),
    seed: int = 0,
    tokens_hash: Optional[str] = None,
) -> Path:
    """Writes ``checkpoint-<n>.pt`` for each of ``updates`` into ``exp_dir``: a random
    ``head`` model with as many outputs as ``lang_dir``'s tokenizer has tokens (its weights
    change with ``n``), its run config (``tokens_hash`` as given, default the real one) and
    ``trainer.update`` = n.

    Returns:
        Path: ``exp_dir``.
    """
    exp_dir = Path(exp_dir)
    vocab = Tokenizer(Path(lang_dir) / "tokenizer").vocab_size
    for n in updates:
        model = tiny_head_model(head, vocab, seed=seed + n)
        state = {
            "model": model.state_dict(),
            "config": run_config(model, head, lang_dir, tokens_hash),
            "trainer": {"update": n, "epoch": 1},
        }
        save_atomic(state, exp_dir / f"checkpoint-{n}.pt")
    return exp_dir


def make_test_set(
    out_dir: Pathlike,
    n: int = 5,
    missing: Sequence[int] = (),
    texts: Optional[Sequence[str]] = None,
    durations: Optional[Sequence[float]] = None,
) -> Path:
    """A manifest ``out_dir/cuts.jsonl.gz`` of ``n`` tiny cuts (ids ``utt-0000`` ...), whose
    audio files at the indices ``missing`` are deleted after writing it (as when a corpus
    folder moved).

    Args:
        texts: transcripts per cut (default: those of ``make_tiny_cutset``).
        durations: seconds per cut (default 1.0 each).

    Returns:
        Path: the manifest.
    """
    out_dir = Path(out_dir)
    cuts = make_tiny_cutset(out_dir / "audio", n=n, durations=durations or [1.0] * n)
    if texts is not None:
        for cut, text in zip(cuts, texts):
            cut.supervisions[0].text = text
    path = out_dir / "cuts.jsonl.gz"
    cuts.to_file(path)
    for i, cut in enumerate(cuts):
        if i in missing:
            Path(cut.recording.sources[0].source).unlink()
    return path
