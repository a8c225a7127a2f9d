"""``xlsr.load_model(path)``: any model the toolkit can decode, as its task's model.

    loaded = xlsr.load_model("exp/ctc")            # or a checkpoint, an exported dir, ...
    log_probs, frames = loaded(waveforms, lengths)  # the task model's forward (eval mode)
    logits, frames = loaded.logits(waveforms, lengths)   # CTC: before the log-softmax
    loaded.model.task_name, loaded.vocabulary, loaded.config
    lid = xlsr.load_model("xlsr_300m_voxlingua107_ft.pt")  # a classifier: task "lid"
    logits, frames = lid(waveforms, lengths)        # (B, classes); class i: lid.vocabulary[i]
    st = xlsr.load_model("wav2vec2-xls-r-300m-en-to-15")   # HF SpeechEncoderDecoderModel: "st"
    memory, memory_lengths = st.model.encode_for_decoder(waveforms, lengths)
    st.tokenizer.tag_id("de"), st.tokenizer.decode(ids)      # its mBART-50 vocabulary

    path                              kind         weights                  vocabulary
    exp dir of xlsr.bin.train         exp_dir      newest readable          the run's lang dir
                                                   checkpoint (or           (tokenizer/tokens.txt)
                                                   checkpoint="averaged":
                                                   averaged.pt)
    checkpoint-N.pt, epoch-N.pt,      checkpoint   the file                 the run's lang dir
    averaged.pt
    exported dir (xlsr.bin.export)    exported     model.pt                 DIR/lang
    fairseq wav2vec_ctc checkpoint    fairseq_ctc  encoder + CTC            dict.ltr.txt beside it
                                                   projection
    Hugging Face Wav2Vec2ForCTC dir   hf_ctc       encoder + lm_head        vocab.json (blank
                                                                            moved to id 0)
    fairseq wav2vec_classification    fairseq_     encoder + pooling_layer  labels: task_state,
    checkpoint (XLS-R LID)            classifier                            else dict.<labels>.txt
                                                                            / labels.txt beside it
    Hugging Face Wav2Vec2For-         hf_          encoder + projector +    config.json id2label
    SequenceClassification dir        classifier   classifier
    our lid / sid checkpoints         as above     as above                 config.yaml's labels
    fairseq xm_transformer            fairseq_st   encoder + adaptor +      dict.txt + sentence-
    checkpoint (XLS-R + mBART-50)                  mBART decoder            piece model beside it
                                                                            (xlsr.tasks.st_external)
    Hugging Face SpeechEncoder-       hf_st        encoder + adapter +      the dir's MBart50-
    DecoderModel dir                               mBART decoder            Tokenizer

Every kind comes back as the task's model class (``CtcModel`` for the external CTC models,
``ClassifierModel`` for the classifiers, ``StModel`` for the ST models) in eval mode. An
external ST model's ``tokenizer`` (also ``model.target_vocabulary``) is its mBART-50
vocabulary (:mod:`xlsr.data.mbart_vocab`), its ``vocabulary`` that vocabulary's pieces by id.
A classifier's ``vocabulary`` is its labels by class id; an external one does not say what it
classifies, so it is a "lid" model unless ``task="sid"``. Errors are ``CheckpointError`` (a ``ValueError``) naming the path and
what was expected there; checkpoint files are read with the restricted unpickler
(``xlsr.models.safe_pickle``), so loading one runs no code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from xlsr.models.fairseq_classifier import ARCH as FAIRSEQ_CLASSIFIER
from xlsr.models.fairseq_hf import OUR_FORMAT, CheckpointError
from xlsr.models.fairseq_st import ST_ARCHS
from xlsr.tasks.base import get_task, task_of_run
from xlsr.train import checkpoint as ckpt

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
#: files of an exported model dir (xlsr.tasks.export)
EXPORT_WEIGHTS, EXPORT_CONFIG, EXPORT_LANG = "model.pt", "config.yaml", "lang"
KINDS = (
    "exp_dir",
    "checkpoint",
    "exported",
    "fairseq_ctc",
    "hf_ctc",
    "fairseq_classifier",
    "hf_classifier",
    "fairseq_st",
    "hf_st",
)
#: the tasks an external classifier may serve (it does not say which); the first by default
CLASSIFIER_TASKS = ("lid", "sid")


@dataclass
class LoadedModel:
    """A model :func:`load_model` read, with what it needs to be used.

    Attributes:
        model: the task's model (a ``xlsr.models.base.TaskModel``) in eval mode;
            ``model.task_name`` is its task.
        task: the task name ("asr_ctc", "asr_transducer", "lid", "sid", "st").
        vocabulary: output symbols by id (ASR: tokens, 0 = the CTC / transducer blank;
            classifiers: the labels); None when no lang dir with the model's token table was
            found.
        config: the run config (config.yaml's layout: ``task``, ``encoder``, the head's
            section ...); for external models the one equivalent to them.
        kind: one of :data:`KINDS`.
        files: the files the weights come from.
        lang_dir: the lang dir the vocabulary comes from (None for external models).
        tokenizer: ids -> text (``.decode(ids)``): our ``Tokenizer``, or the external
            model's vocabulary (``xlsr.models.hf_ctc.CtcVocab``, ST:
            ``xlsr.data.mbart_vocab.MBartVocabulary``); None without vocabulary and for
            classifiers.
    """

    model: torch.nn.Module
    task: str
    vocabulary: Optional[List[str]]
    config: Dict[str, Any]
    kind: str
    files: List[Path] = field(default_factory=list)
    lang_dir: Optional[Path] = None
    tokenizer: Any = None

    def __call__(self, waveforms: Tensor, lengths: Tensor):
        """The model's forward without targets (CTC: log-posteriors (B, T, V), frames (B,))."""
        return self.model(waveforms, lengths)

    def logits(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """CTC models: the output layer's logits before the log-softmax; classifiers: their
        forward's logits.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) valid samples.

        Returns:
            (logits (B, T, V), frames (B,)); token ``i`` is ``vocabulary[i]``. Classifiers:
            (logits (B, classes), frames (B,)); class ``i`` is ``vocabulary[i]``.
        """
        if hasattr(self.model, "pooling_layer"):
            return self.model(waveforms, lengths)
        output = getattr(self.model, "output", None)
        if not isinstance(output, torch.nn.Linear):
            raise ValueError(f"logits: the {self.task} model has no CTC output layer")
        hidden, frames = self.model.encode(waveforms, lengths)
        return output(self.model.dropout(hidden)), frames


# ------------------------------------------------------------------------------ reading


def model_kind(path: Pathlike) -> str:
    """What ``path`` is: "exp_dir", "exported", "hf_ctc", "hf_classifier" or "hf_st" for a
    directory, "file" for a file (a checkpoint of ours or a fairseq one:
    :func:`read_checkpoint` tells)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or directory")
    if not path.is_dir():
        return "file"
    if (path / EXPORT_WEIGHTS).is_file() and (path / EXPORT_CONFIG).is_file():
        return "exported"
    if (path / "config.json").is_file():
        return _hf_kind(path)
    if (
        ckpt.list_checkpoints(path, "checkpoint")
        or ckpt.list_checkpoints(path, "epoch")
        or (path / "averaged.pt").is_file()
    ):
        return "exp_dir"
    raise CheckpointError(
        path,
        "a directory that holds no model: expected an exp dir of xlsr.bin.train "
        "(checkpoint-*.pt, epoch-*.pt), an exported model dir (model.pt + config.yaml, "
        "xlsr.bin.export) or a Hugging Face Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification "
        "or SpeechEncoderDecoderModel dir (config.json)",
    )


def _hf_kind(path: Path) -> str:
    """ "hf_classifier" for a Wav2Vec2ForSequenceClassification dir, "hf_st" for a
    SpeechEncoderDecoderModel dir (``architectures`` or ``model_type``
    "speech-encoder-decoder"), else "hf_ctc" (whose loader names what else it is)."""
    from xlsr.models.hf_classifier import ARCHITECTURE
    from xlsr.models.hf_st import ARCHITECTURE as ST_ARCHITECTURE
    from xlsr.models.hf_st import MODEL_TYPE

    try:
        cfg = json.loads((path / "config.json").read_text())
        architectures = list(cfg.get("architectures") or [])
        model_type = cfg.get("model_type")
    except (ValueError, AttributeError, TypeError):
        return "hf_ctc"
    if ST_ARCHITECTURE in architectures or (not architectures and model_type == MODEL_TYPE):
        return "hf_st"
    return "hf_classifier" if ARCHITECTURE in architectures else "hf_ctc"


def read_checkpoint(path: Pathlike) -> Dict[str, Any]:
    """The dict in a checkpoint file, read with the restricted unpickler."""
    from xlsr.models.safe_pickle import torch_load

    try:
        obj = torch_load(Path(path))
    except Exception as e:  # noqa: BLE001 - truncated, another format: not a checkpoint
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({e})") from e
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"a {type(obj).__name__}, not a checkpoint dict")
    return obj


def fairseq_arch(path: Pathlike, obj: Dict[str, Any]) -> str:
    """The model architecture a fairseq checkpoint names (``wav2vec_ctc`` ...)."""
    from xlsr.models.fairseq_hf import fairseq_sections

    model_cfg, _ = fairseq_sections(path, obj)
    return str(model_cfg.get("_name") or model_cfg.get("arch") or "")


def file_kind(obj: Dict[str, Any]) -> str:
    """ "checkpoint" (ours: ``model`` + ``config``), "fairseq", "encoder" (xlsr.save_encoder)
    or "" for anything else."""
    if obj.get("format") == OUR_FORMAT:
        return "encoder"
    if isinstance(obj.get("model"), dict) and isinstance(obj.get("config"), dict):
        return "checkpoint"
    if "model" in obj and ("cfg" in obj or "args" in obj):
        return "fairseq"
    return ""


def exported_state(path: Pathlike) -> Dict[str, Any]:
    """``{"model": weights, "config": run config}`` of an exported model dir."""
    from xlsr.models.safe_pickle import torch_load
    from xlsr.utils.config import load_yaml

    path = Path(path)
    try:
        config = load_yaml(path / EXPORT_CONFIG)
        weights = torch_load(path / EXPORT_WEIGHTS)
    except Exception as e:  # noqa: BLE001 - YAML, pickle: all mean "damaged export"
        raise CheckpointError(path, f"not a readable exported model dir ({e})") from e
    if not isinstance(weights, dict) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise CheckpointError(path / EXPORT_WEIGHTS, "expected a state dict (name -> tensor)")
    return {"model": weights, "config": config}


def task_of_path(path: Pathlike) -> Optional[str]:
    """The task of the model at ``path`` without building it (None when it is no model)."""
    from xlsr.utils.config import load_yaml

    try:
        kind = model_kind(path)
        if kind in ("exp_dir", "exported") and (Path(path) / EXPORT_CONFIG).is_file():
            return task_of_run(load_yaml(Path(path) / EXPORT_CONFIG))
        if kind == "exp_dir":
            return task_of_run(ckpt.newest_readable(path)[1]["config"])
        if kind in ("hf_ctc", "hf_classifier", "hf_st"):
            return {"hf_ctc": "asr_ctc", "hf_st": "st"}.get(kind, CLASSIFIER_TASKS[0])
        obj = read_checkpoint(path)
        kind = file_kind(obj)
        if kind == "fairseq" and fairseq_arch(path, obj) == FAIRSEQ_CLASSIFIER:
            return CLASSIFIER_TASKS[0]
        if kind == "fairseq" and fairseq_arch(path, obj) in ST_ARCHS:
            return "st"
    except (ValueError, TypeError, KeyError):
        return None
    return task_of_run(obj["config"]) if kind == "checkpoint" else "asr_ctc" if kind else None


# --------------------------------------------------------------------------- our models


def head_config(task, run: Dict[str, Any], source: str):
    """(head config, encoder config) a run config describes; CheckpointError otherwise."""
    from xlsr.models.config import EncoderConfig

    try:
        return task.config_cls(**dict(run[task.section])), EncoderConfig.from_dict(run["encoder"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            source, f"its config does not describe a {task.name} model ({e!r})"
        ) from e


def fit_weights(model: torch.nn.Module, weights: Dict[str, Tensor], source: str) -> None:
    """Loads ``weights`` into ``model``; CheckpointError naming ``source`` and every misfit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    shapes = [
        f"{k} {tuple(weights[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in weights and weights[k].shape != v.shape
    ]
    problems = [f"{len(missing)} missing: {missing[:5]}"] if missing else []
    problems += [f"{len(extra)} unexpected: {extra[:5]}"] if extra else []
    problems += [f"{len(shapes)} of another shape: {shapes[:3]}"] if shapes else []
    if problems:
        raise CheckpointError(
            source,
            "its weights do not fit the model its config describes (damaged or edited "
            f"file?): {'; '.join(problems)}",
        )
    model.load_state_dict(weights)


def build_task_model(task, run: Dict[str, Any], weights: Dict[str, Tensor], source: str):
    """The ``task`` model of run config ``run`` with ``weights``, in eval mode."""
    from xlsr.models import XLSREncoder

    head_cfg, enc_cfg = head_config(task, run, source)
    model = task.build_model(XLSREncoder(enc_cfg), head_cfg)
    fit_weights(model, weights, source)
    return model.eval()


def find_lang_dir(run: Dict[str, Any], near: Path) -> Optional[Path]:
    """The lang dir a run recorded (``lang_dir``): as written (relative to the working
    directory) or relative to a directory above ``near`` (a recipe dir holding exp/ and
    data/); None when none exists."""
    recorded = run.get("lang_dir")
    if not recorded:
        return None
    candidates = [Path(recorded)]
    if not Path(recorded).is_absolute():
        candidates += [parent / recorded for parent in list(near.resolve().parents)[:4]]
    return next((c for c in candidates if (c / "tokenizer" / "tokens.txt").is_file()), None)


def check_vocabulary(run: Dict[str, Any], lang_dir: Pathlike, source: str) -> List[str]:
    """The tokens of ``lang_dir/tokenizer/tokens.txt`` when they are the model's (as many as
    its ``vocab_size``, the ``tokens_hash`` the run recorded); CheckpointError otherwise."""
    from xlsr.data.tokenizer import read_symbols
    from xlsr.utils.fingerprint import short_hash

    table = Path(lang_dir) / "tokenizer" / "tokens.txt"
    if not table.is_file():
        raise CheckpointError(lang_dir, f"no tokenizer/tokens.txt (model: {source})")
    tokens = read_symbols(table)
    section = run.get(run.get("head") or "", {}) or {}
    size, recorded = section.get("vocab_size"), run.get("tokens_hash")
    if size is not None and len(tokens) != int(size):
        raise CheckpointError(table, f"{len(tokens)} tokens, the model in {source} has {size}")
    if recorded and short_hash(table) != recorded:
        raise CheckpointError(
            table, f"not the token table of the model in {source} (tokens_hash {recorded})"
        )
    return tokens


def _vocabulary(run, lang_dir: Optional[Path], explicit: bool, source: str):
    """(tokens, Tokenizer) of ``lang_dir`` when its token table is the model's; (None, None)
    after a warning when a lang dir found on its own is not (an explicit one raises)."""
    from xlsr.data.tokenizer import Tokenizer

    if lang_dir is None:
        logger.warning(
            "%s: no lang dir found (recorded: %s); vocabulary unknown (pass lang_dir=)",
            source,
            run.get("lang_dir"),
        )
        return None, None
    try:
        tokens = check_vocabulary(run, lang_dir, source)
    except CheckpointError as e:
        if explicit:
            raise
        logger.warning("vocabulary unknown: %s", e)
        return None, None
    return tokens, Tokenizer(Path(lang_dir) / "tokenizer")


def _ours(path: Path, state, kind: str, files: List[Path], lang_dir, near: Path) -> LoadedModel:
    run = state["config"]
    task = get_task(task_of_run(run))
    model = build_task_model(task, run, state["model"], ", ".join(map(str, files)))
    explicit = lang_dir is not None
    if task.section == "classifier" and run.get("labels"):  # lid, sid: config.yaml's labels
        lang = Path(lang_dir) if explicit else None
        return LoadedModel(model, task.name, list(run["labels"]), run, kind, files, lang)
    lang = Path(lang_dir) if explicit else find_lang_dir(run, near)
    if kind == "exported" and not explicit:
        lang = path / EXPORT_LANG
    vocabulary, tokenizer = _vocabulary(run, lang, explicit, str(path))
    return LoadedModel(
        model, task.name, vocabulary, run, kind, files, lang if vocabulary else None, tokenizer
    )


def _exp_dir_state(exp: Path, checkpoint: str) -> Tuple[Path, Dict[str, Any]]:
    if checkpoint == "averaged":
        path = exp / "averaged.pt"
        if not path.is_file():
            raise CheckpointError(
                exp, "no averaged.pt (the trainer writes it with --average-period > 0)"
            )
        return path, read_checkpoint(path)
    if checkpoint != "last":
        path = Path(checkpoint) if Path(checkpoint).is_file() else exp / checkpoint
        return path, read_checkpoint(path)
    best, state, broken = ckpt.newest_readable(exp)
    if best is None:
        raise CheckpointError(
            exp,
            f"no readable checkpoint-*.pt or epoch-*.pt (unreadable: {[p.name for p in broken]})",
        )
    return best, state


# --------------------------------------------------------------------------- entry point


def load_model(
    path: Pathlike,
    checkpoint: str = "last",
    lang_dir: Optional[Pathlike] = None,
    vocabulary: Optional[Pathlike] = None,
    task: Optional[str] = None,
) -> LoadedModel:
    """Loads any model the toolkit can decode (see the module docstring for the kinds).

    Args:
        path: an exp dir, a checkpoint file, an exported model dir, a fairseq fine-tuned
            CTC, classification or xm_transformer (ST) checkpoint, or a Hugging Face
            Wav2Vec2ForCTC / Wav2Vec2ForSequenceClassification / SpeechEncoderDecoderModel
            directory.
        checkpoint: exp dirs only: "last" (the newest readable checkpoint), "averaged"
            (``averaged.pt``, the running average) or a checkpoint file (in the exp dir).
        lang_dir: our models: the lang dir of the vocabulary (default: the exported dir's
            ``lang/``, else the one the run recorded, found from the working directory or
            above the exp dir); one that does not fit the model is an error. External ST
            models: where to look for a fairseq model's dictionary and sentencepiece model
            after beside it, and whose ``text_norm.json`` is the vocabulary's ``normalize``.
        vocabulary: fairseq models: the target dictionary (default ``dict.ltr.txt``
            beside the checkpoint; ST: ``dict.txt``) or, for a classifier, the label file
            (default: the checkpoint's own, else ``dict.<labels>.txt`` / ``labels.txt``
            beside it).
        task: the task the model must serve; for external classifiers, which do not say,
            "lid" (default) or "sid".

    Returns:
        LoadedModel: the task's model in eval mode, its task, vocabulary and config.

    Raises:
        CheckpointError: naming the path and what was expected there.
    """
    path = Path(path)
    kind = model_kind(path)
    if checkpoint != "last" and kind != "exp_dir":
        raise CheckpointError(
            path, f"checkpoint={checkpoint!r} picks a file of an exp dir; this is a {kind}"
        )
    loaded = _load(path, kind, checkpoint, lang_dir, vocabulary, task)
    if task is not None and loaded.task != task:
        raise CheckpointError(path, f"a {loaded.task} model, not a {task} model")
    return loaded


def our_run_state(path: Pathlike) -> Optional[Tuple[Path, Dict[str, Any]]]:
    """(weights file, ``{"model", "config"}``) of one of our models (exp dir: its newest
    readable checkpoint; a checkpoint file; an exported dir), None for anything else."""
    path = Path(path)
    kind = model_kind(path)
    if kind == "exp_dir":
        file, state = _exp_dir_state(path, "last")
    elif kind == "exported":
        file, state = path / EXPORT_WEIGHTS, exported_state(path)
    elif kind == "file":
        file, state = path, read_checkpoint(path)
    else:
        return None
    return (file, state) if file_kind(state) == "checkpoint" or kind == "exported" else None


def encoder_of_model(path: Pathlike):
    """The XLS-R encoder of one of our models, any task (an exp dir, a checkpoint file or an
    exported dir), in train mode: ``--xlsr-checkpoint exp/ctc`` fine-tunes an ASR model's
    encoder for another task (fairseq ``--load-pretrained-encoder-from``). None where
    ``path`` is not one of ours (a fairseq / HF / ``save_encoder`` file: ``load_encoder``)."""
    from xlsr.models import XLSREncoder

    found = our_run_state(path)
    if found is None:
        return None
    file, state = found
    run = state["config"]
    _, enc_cfg = head_config(get_task(task_of_run(run)), run, str(file))
    weights = {
        k[len("encoder.") :]: v for k, v in state["model"].items() if k.startswith("encoder.")
    }
    encoder = XLSREncoder(enc_cfg)
    fit_weights(encoder, weights, str(file))
    logger.info("encoder of %s (%s, task %s)", path, file, task_of_run(run))
    return encoder.train()


def _load(path: Path, kind: str, checkpoint: str, lang_dir, vocabulary, task) -> LoadedModel:
    if kind == "exp_dir":
        file, state = _exp_dir_state(path, checkpoint)
        if file_kind(state) != "checkpoint":
            raise CheckpointError(file, "not a checkpoint of xlsr.bin.train (model + config)")
        return _ours(path, state, kind, [file], lang_dir, path)
    if kind == "exported":
        return _ours(path, exported_state(path), kind, [path / EXPORT_WEIGHTS], lang_dir, path)
    if kind == "hf_ctc":
        return _hf_ctc(path)
    if kind == "hf_classifier":
        return load_hf_classifier_model(path, task)
    if kind == "hf_st":
        return load_st_model(path, None, lang_dir)
    obj = read_checkpoint(path)
    what = file_kind(obj)
    if what == "checkpoint":
        return _ours(path, obj, "checkpoint", [path], lang_dir, path.parent)
    if what == "fairseq" and fairseq_arch(path, obj) == FAIRSEQ_CLASSIFIER:
        return load_fairseq_classifier_model(path, obj, vocabulary, task)
    if what == "fairseq" and fairseq_arch(path, obj) in ST_ARCHS:
        return load_st_model(path, obj, lang_dir, vocabulary)
    if what == "fairseq":
        return load_fairseq_ctc_model(path, obj, vocabulary)
    if what == "encoder":
        raise CheckpointError(
            path, "an encoder without a head (xlsr.save_encoder): load it with xlsr.load_encoder"
        )
    raise CheckpointError(
        path,
        f"not a model checkpoint (top-level keys {sorted(map(str, obj))[:8]}); expected a "
        "checkpoint of xlsr.bin.train (model + config), a fairseq wav2vec_ctc, "
        "wav2vec_classification or xm_transformer checkpoint",
    )


def _external_config(
    model, source: Path, extra: Dict[str, Any], task: str = "asr_ctc", head: str = "ctc"
) -> Dict[str, Any]:
    """The run config equivalent to an external model (config.yaml's layout)."""
    return {
        "task": task,
        "head": head,
        head: asdict(model.cfg),
        "encoder": model.encoder.cfg.to_dict(),
        "source": str(source),
        **extra,
    }


def _hf_ctc(path: Path) -> LoadedModel:
    from xlsr.models.fairseq_hf import HF_WEIGHT_FILES
    from xlsr.models.hf_ctc import load_hf_ctc

    model, vocab = load_hf_ctc(path)
    files = [path / n for n in HF_WEIGHT_FILES if (path / n).exists()]
    config = _external_config(model, path, {"format": "huggingface"})
    return LoadedModel(
        model,
        "asr_ctc",
        vocab.tokens,
        config,
        "hf_ctc",
        [path / "config.json", *files],
        None,
        vocab,
    )


def load_fairseq_ctc_model(path: Path, obj: Dict[str, Any], vocabulary=None) -> LoadedModel:
    """A fairseq wav2vec_ctc checkpoint, read into ``obj``, with its dictionary."""
    from xlsr.models.fairseq_ctc import load_fairseq_ctc

    model, vocab, dict_path = load_fairseq_ctc(path, obj, vocabulary)
    config = _external_config(model, path, {"format": "fairseq", "dictionary": str(dict_path)})
    return LoadedModel(
        model, "asr_ctc", vocab.tokens, config, "fairseq_ctc", [path, dict_path], None, vocab
    )


def _classifier_task(path: Path, task: Optional[str]) -> str:
    """The task of an external classifier: ``task`` when it is one of CLASSIFIER_TASKS."""
    if task is None:
        return CLASSIFIER_TASKS[0]
    if task not in CLASSIFIER_TASKS:
        raise CheckpointError(path, f"a classifier, for task {' or '.join(CLASSIFIER_TASKS)}")
    return task


def _classifier(model, labels, path: Path, kind: str, task, files, extra) -> LoadedModel:
    task = _classifier_task(path, task)
    model.task_name = task  # ClassifierModel serves lid and sid: say which
    extra = {**extra, "labels": list(labels)}
    config = _external_config(model, path, extra, task=task, head="classifier")
    return LoadedModel(model, task, list(labels), config, kind, files)


def load_fairseq_classifier_model(
    path: Path, obj: Dict[str, Any], vocabulary=None, task: Optional[str] = None
) -> LoadedModel:
    """A fairseq wav2vec_classification checkpoint, read into ``obj``, with its labels
    (``vocabulary``: a label file, see :func:`xlsr.models.fairseq_classifier.find_labels`)."""
    from xlsr.models.fairseq_classifier import load_fairseq_classifier

    model, labels, files = load_fairseq_classifier(path, obj, vocabulary)
    extra = {"format": "fairseq", "dictionary": str(files[1]) if len(files) > 1 else None}
    return _classifier(model, labels, path, "fairseq_classifier", task, files, extra)


def load_hf_classifier_model(path: Path, task: Optional[str] = None) -> LoadedModel:
    """A Hugging Face Wav2Vec2ForSequenceClassification directory, labels from id2label."""
    from xlsr.models.fairseq_hf import HF_WEIGHT_FILES
    from xlsr.models.hf_classifier import load_hf_classifier

    model, labels = load_hf_classifier(path)
    files = [path / "config.json", *(path / n for n in HF_WEIGHT_FILES if (path / n).exists())]
    extra = {"format": "huggingface"}
    return _classifier(model, labels, path, "hf_classifier", task, files, extra)


def load_st_model(
    path: Path, obj: Optional[Dict[str, Any]], lang_dir=None, dictionary=None
) -> LoadedModel:
    """An external ST model: a Hugging Face SpeechEncoderDecoderModel dir (``obj`` None) or
    a fairseq xm_transformer checkpoint read into ``obj``, with its mBART-50 vocabulary
    (:mod:`xlsr.tasks.st_external`)."""
    from xlsr.tasks.st_external import load_fairseq_st_model, load_hf_st_model

    if obj is None:
        model, files = load_hf_st_model(path, lang_dir)
        kind, extra = "hf_st", {"format": "huggingface"}
    else:
        model, files = load_fairseq_st_model(path, obj, lang_dir, dictionary)
        kind, extra = "fairseq_st", {"format": "fairseq", "dictionary": str(files[1])}
    vocab = model.target_vocabulary
    config = _external_config(model, path, extra, task="st", head="st")
    return LoadedModel(model, "st", list(vocab.pieces), config, kind, files, None, vocab)
