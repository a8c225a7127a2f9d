"""Existing fine-tuned models: a fairseq ``wav2vec_ctc`` checkpoint as a CtcModel.

fairseq's fine-tuned CTC model (``Wav2VecCtc``) is the wav2vec 2.0 encoder
(``w2v_encoder.w2v_model.*``, read by :func:`xlsr.models.fairseq_hf.load_fairseq`) and one
linear projection ``w2v_encoder.proj`` (weight (V, D), bias (V,)) to the target dictionary.
Its conventions, from fairseq's sources:

    dictionary      ``fairseq.data.Dictionary``: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3,
                    then the symbols of ``dict.<labels>.txt`` (``<token> <count>`` per line,
                    ``#fairseq:overwrite`` allowed), in file order; the fine-tuning task
                    (``audio_finetuning``) loads ``<data>/dict.<labels>.txt`` (labels "ltr").
    blank           index 0 (``<s>``): the CTC criterion's ``blank_idx`` and the index that
                    ``Wav2VecCtc.get_logits`` adds ``blank_weight`` to. (Hugging Face's
                    converter swaps the names of ids 0 and 1, so there the blank is ``<pad>``.)
    text            letters joined, ``|`` between words (post_process "letter").

So the projection becomes our output layer as it is (our blank is token 0 too), with a
non-zero ``blank_weight`` (``blank_mode`` "add") folded into the blank's bias.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.models.fairseq_hf import CheckpointError, load_fairseq
from xlsr.models.hf_ctc import CtcVocab
from xlsr.models.safe_pickle import to_plain

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
#: fairseq Dictionary's special symbols, ids 0..3
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
CTC_ARCHS = ("wav2vec_ctc", "wav2vec2_ctc")
PROJ = "w2v_encoder.proj"


def read_fairseq_dict(path: Pathlike, specials: Sequence[str] = FAIRSEQ_SPECIALS) -> List[str]:
    """The symbols of a fairseq ``Dictionary`` loaded from ``path`` (``dict.ltr.txt``), by id.

    Args:
        path: the dictionary file.
        specials: the symbols before the file's (``Dictionary.load(f,
            add_special_symbols=False)``, as ``audio_classification`` loads labels: none).

    Raises:
        CheckpointError: naming the file and line that is not ``<token> <count> [flag]``.
    """
    path = Path(path)
    symbols = list(specials)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            word, count = line.rstrip().rsplit(" ", 1)
            overwrite = count == "#fairseq:overwrite"
            if overwrite:
                word, count = word.rsplit(" ", 1)
            int(count)
        except ValueError:
            raise CheckpointError(
                path, f"line {n}: expected '<token> <count>', got {line!r}"
            ) from None
        if word in symbols and not overwrite:
            raise CheckpointError(path, f"line {n}: {word!r} occurs twice")
        symbols.append(word)
    return symbols


def _sections(ckpt: Dict[str, Any]) -> Tuple[dict, dict]:
    """(model config, task config) of a fairseq checkpoint, ``cfg`` or legacy ``args``."""
    cfg, args = to_plain(ckpt.get("cfg")), to_plain(ckpt.get("args"))
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        return cfg["model"], dict(cfg.get("task") or {})
    flat = args if isinstance(args, dict) else {}
    return flat, flat


def dict_candidates(path: Path, ckpt: Dict[str, Any]) -> List[Path]:
    """Where the dictionary of a fine-tuned checkpoint may be, in the order to try:
    ``dict.<labels>.txt`` beside it, the only ``dict.*.txt`` beside it, the one in the task's
    ``target_dictionary`` (audio_classification's override) or ``data`` directory."""
    _, task = _sections(ckpt)
    labels = str(task.get("labels") or "ltr")
    others = sorted(path.parent.glob("dict.*.txt"))
    dirs = [task.get(key) for key in ("target_dictionary", "data") if task.get(key)]
    return [
        path.parent / f"dict.{labels}.txt",
        *(others if len(others) == 1 else []),
        *(Path(str(d)) / f"dict.{labels}.txt" for d in dirs),
    ]


def find_dict(path: Path, ckpt: Dict[str, Any]) -> Path:
    """The dictionary of a fine-tuned checkpoint: the first of :func:`dict_candidates` that
    exists."""
    candidates = dict_candidates(path, ckpt)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    beside = candidates[0]
    raise CheckpointError(
        path,
        f"no fairseq dictionary: expected {beside.name} beside the checkpoint (the "
        "fine-tuning data's dict.<labels>.txt), or pass its path (vocabulary=...)",
    )


def load_fairseq_ctc(
    path: Pathlike, ckpt: Dict[str, Any], dict_path: Optional[Pathlike] = None
) -> Tuple[CtcModel, CtcVocab, Path]:
    """A fairseq ``wav2vec_ctc`` checkpoint (already read into ``ckpt``) as our CtcModel.

    Args:
        path: the checkpoint file (for messages and to find the dictionary).
        ckpt: its contents (``xlsr.models.safe_pickle.torch_load``).
        dict_path: the target dictionary (``dict.ltr.txt``); default: :func:`find_dict`.

    Returns:
        (model in eval mode, its vocabulary (blank ``<s>`` at 0), the dictionary file).
    """
    path = Path(path)
    model_cfg, _ = _sections(ckpt)
    arch = str(model_cfg.get("_name") or model_cfg.get("arch") or "")
    state = ckpt.get("model") if isinstance(ckpt.get("model"), dict) else {}
    if arch not in CTC_ARCHS or f"{PROJ}.weight" not in state:
        raise CheckpointError(
            path,
            f"a fairseq {arch or 'unknown'} checkpoint, not a fine-tuned CTC model "
            f"({'/'.join(CTC_ARCHS)} with {PROJ}.weight)",
        )
    dict_path = Path(dict_path) if dict_path is not None else find_dict(path, ckpt)
    vocab = CtcVocab(read_fairseq_dict(dict_path))
    weight, bias = state[f"{PROJ}.weight"], state.get(f"{PROJ}.bias")
    if weight.shape[0] != vocab.vocab_size:
        raise CheckpointError(
            path,
            f"{PROJ} has {weight.shape[0]} outputs, the dictionary {dict_path} gives "
            f"{vocab.vocab_size} symbols (4 specials + {vocab.vocab_size - 4} lines)",
        )
    encoder = load_fairseq(path, ckpt)
    model = CtcModel(encoder, CtcConfig(vocab_size=vocab.vocab_size, loss="torch"))
    with torch.no_grad():
        model.output.weight.copy_(weight.float())
        model.output.bias.copy_(bias.float() if bias is not None else torch.zeros(len(weight)))
        model.output.bias[0] += _blank_weight(path, model_cfg)
    return model.eval(), vocab, dict_path


def _blank_weight(path: Path, model_cfg: dict) -> float:
    """fairseq ``blank_weight`` (added to the blank's logit); ``blank_mode`` "set" refused."""
    weight = float(model_cfg.get("blank_weight") or 0.0)
    if weight and str(model_cfg.get("blank_mode") or "add") != "add":
        raise CheckpointError(path, f"blank_mode {model_cfg['blank_mode']!r} is not supported")
    return weight
