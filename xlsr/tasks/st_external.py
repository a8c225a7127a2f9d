"""Existing ST models for the ``st`` task, with their mBART-50 vocabulary
(:mod:`xlsr.data.mbart_vocab`) as ``model.target_vocabulary``.

    model                              weights                      vocabulary
    Hugging Face SpeechEncoder-        xlsr.models.hf_st            the dir's MBart50Tokenizer
    DecoderModel dir                   (load_hf_st)                 (sentencepiece.bpe.model)
    fairseq xm_transformer             xlsr.models.fairseq_st       the target dictionary and
    checkpoint                         (load_fairseq_st)            sentencepiece model: a fairseq
                                                                    data config.yaml's
                                                                    vocab_filename / bpe_tokenizer
                                                                    sentencepiece_model, else
                                                                    dict.txt and
                                                                    sentencepiece.bpe.model or
                                                                    spm.model; beside the
                                                                    checkpoint, else in the lang
                                                                    dir

The vocabulary must have as many ids as the model's embedding. Its ``normalize`` is the lang
dir's text normaliser (``text_norm.json``; the default without one), as the task's references.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from xlsr.data.mbart_vocab import (
    HF_SPM_FILE,
    MBartVocabulary,
    fairseq_vocabulary,
    hf_vocabulary,
)
from xlsr.models.fairseq_hf import HF_WEIGHT_FILES, CheckpointError

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
#: fairseq's speech-to-text data config (vocab_filename, bpe_tokenizer)
DATA_CONFIG = "config.yaml"
DICT_NAMES = ("dict.txt",)
SPM_NAMES = (HF_SPM_FILE, "spm.model")


def _normalizer(lang_dir: Optional[Pathlike]):
    from xlsr.data.text_norm import TextNormalizer

    return TextNormalizer.load(lang_dir) if lang_dir is not None else TextNormalizer()


def _data_config(directory: Path) -> Tuple[List[str], List[str]]:
    """(dictionary names, sentencepiece model names) a fairseq data config.yaml in
    ``directory`` gives, before the default names."""
    import yaml

    dicts, spms = list(DICT_NAMES), list(SPM_NAMES)
    path = directory / DATA_CONFIG
    if not path.is_file():
        return dicts, spms
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return dicts, spms
    if not isinstance(cfg, dict):
        return dicts, spms
    bpe = cfg.get("bpe_tokenizer") or {}
    if cfg.get("vocab_filename"):
        dicts.insert(0, str(cfg["vocab_filename"]))
    if isinstance(bpe, dict) and bpe.get("sentencepiece_model"):
        spms.insert(0, str(bpe["sentencepiece_model"]))
    return dicts, spms


def _first(directories: List[Path], names) -> Tuple[Optional[Path], List[Path]]:
    """The first existing ``directory / name`` (directories first), and all candidates."""
    tried = [d / n for d in directories for n in names(d)]
    return next((p for p in tried if p.is_file()), None), tried


def fairseq_vocabulary_files(
    checkpoint: Path, lang_dir: Optional[Pathlike], dictionary: Optional[Pathlike] = None
) -> Tuple[Path, Path]:
    """(target dictionary, sentencepiece model) of a fairseq ST checkpoint: ``dictionary``
    where given (its sentencepiece model beside it first), else looked for beside the
    checkpoint, then in ``lang_dir``; CheckpointError naming every file looked for."""
    dirs = [checkpoint.parent] + ([Path(lang_dir)] if lang_dir is not None else [])
    if dictionary is not None:
        dict_path = Path(dictionary) if Path(dictionary).is_file() else None
        dict_tried = [Path(dictionary)]
        dirs = [Path(dictionary).parent, *dirs]
    else:
        dict_path, dict_tried = _first(dirs, lambda d: _data_config(d)[0])
    spm_path, spm_tried = _first(dirs, lambda d: _data_config(d)[1])
    missing = [
        f"no {what} (looked for {', '.join(map(str, tried))})"
        for what, found, tried in (
            ("target dictionary", dict_path, dict_tried),
            ("sentencepiece model", spm_path, spm_tried),
        )
        if found is None
    ]
    if missing:
        raise CheckpointError(
            checkpoint,
            f"a fairseq ST checkpoint without its vocabulary: {'; '.join(missing)}. Put the "
            "model's target dictionary (dict.txt, 'piece count' lines with its language tags) "
            "and sentencepiece model (sentencepiece.bpe.model or spm.model) beside the "
            "checkpoint or in the lang dir, or name them in a fairseq data config.yaml beside "
            "it (vocab_filename, bpe_tokenizer: {sentencepiece_model: ...})",
        )
    return dict_path, spm_path  # type: ignore[return-value]


def _check_size(model, vocab: MBartVocabulary, source: Path) -> None:
    if vocab.vocab_size != model.cfg.vocab_size:
        files = ", ".join(map(str, vocab.files))
        raise CheckpointError(
            source,
            f"its decoder has {model.cfg.vocab_size} ids, its vocabulary ({files}) has "
            f"{vocab.vocab_size}: not the model's vocabulary",
        )


def load_hf_st_model(path: Pathlike, lang_dir: Optional[Pathlike] = None):
    """(StModel in eval mode with ``target_vocabulary``, files) of a Hugging Face
    SpeechEncoderDecoderModel dir and its MBart50Tokenizer; CheckpointError otherwise."""
    from xlsr.models.hf_st import load_hf_st

    path = Path(path)
    model, info = load_hf_st(path)
    try:
        vocab = hf_vocabulary(path, _normalizer(lang_dir))
    except FileNotFoundError as e:
        raise CheckpointError(
            path,
            f"no mBART-50 tokenizer ({e}; tokenizer files found: {info.tokenizer_files or 'none'}"
            f"). Save the model's tokenizer into it: MBart50Tokenizer.from_pretrained(...)."
            "save_pretrained(DIR) writes sentencepiece.bpe.model",
        ) from e
    except ValueError as e:
        raise CheckpointError(path, str(e)) from e
    _check_size(model, vocab, path)
    model.target_vocabulary = vocab
    weights = [path / n for n in HF_WEIGHT_FILES if (path / n).exists()]
    return model, [path / "config.json", *weights, *vocab.files]


def load_fairseq_st_model(
    path: Pathlike,
    checkpoint: Dict[str, Any],
    lang_dir: Optional[Pathlike] = None,
    dictionary: Optional[Pathlike] = None,
):
    """(StModel in eval mode with ``target_vocabulary``, files) of a fairseq xm_transformer
    checkpoint (read into ``checkpoint``), its vocabulary from
    :func:`fairseq_vocabulary_files`; CheckpointError otherwise."""
    from xlsr.models.fairseq_st import load_fairseq_st

    path = Path(path)
    model = load_fairseq_st(path, checkpoint)
    dict_path, spm_path = fairseq_vocabulary_files(path, lang_dir, dictionary)
    try:
        vocab = fairseq_vocabulary(dict_path, spm_path, _normalizer(lang_dir), model.cfg.vocab_size)
    except (OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(path, f"its vocabulary: {e}") from e
    _check_size(model, vocab, path)
    model.target_vocabulary = vocab
    return model, [path, dict_path, spm_path]


def load_external(path: Pathlike, lang_dir: Pathlike, checkpoint: Optional[dict] = None):
    """(model, model_info) for :meth:`xlsr.tasks.st.StTask.load_external`: a Hugging Face
    dir (``checkpoint`` None) or a fairseq xm_transformer checkpoint (its contents);
    SystemExit naming the option and what is wrong."""
    from xlsr.tasks.decode_model import model_info

    option = "--hf-model" if checkpoint is None else "--model"
    try:
        if checkpoint is None:
            model, files = load_hf_st_model(path, lang_dir)
        else:
            model, files = load_fairseq_st_model(path, checkpoint, lang_dir)
    except CheckpointError as e:
        raise SystemExit(f"{option} {e}") from e
    vocab = model.target_vocabulary
    logger.info(
        "%s: ST model with %d ids, target languages %s (%s)",
        path,
        vocab.vocab_size,
        vocab.languages,
        ", ".join(map(str, vocab.files)),
    )
    return model, model_info(files, "hf_model" if checkpoint is None else "fairseq_model")
