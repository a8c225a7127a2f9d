"""Existing fine-tuned models: a fairseq ``wav2vec_classification`` checkpoint (the released
XLS-R LID model ``xlsr_300m_voxlingua107_ft.pt``) as our ClassifierModel.

fairseq's model (``fairseq/models/wav2vec/wav2vec2_classification.py``) is the wav2vec 2.0
encoder (``w2v_encoder.w2v_model.*``, read by :func:`xlsr.models.fairseq_hf.load_fairseq`)
and a pooling head; ``get_pooling_layer`` builds only ``pooling: mean`` (``MeanPoolingFast``:
``linear`` per frame, the mean over the frames its padding mask keeps, ``activation_fn``,
``projection``), which is our head with the same names:

    fairseq key                        ours                               shape
    w2v_encoder.w2v_model.*            encoder.* (fairseq_hf key map)
    pooling_layer.linear.weight/bias   pooling_layer.linear.weight/bias   (latent, D) / (latent,)
    pooling_layer.projection.weight    pooling_layer.projection.weight    (classes, latent)
    pooling_layer.projection.bias      pooling_layer.projection.bias      (classes,)

    cfg.model.latent_embed_dim   ClassifierConfig.latent_dim (None: D)
    cfg.model.activation_fn      ClassifierConfig.activation (gelu, relu, tanh, linear)
    cfg.model.w2v_args           the encoder config (as for wav2vec_ctc); cfg.task.normalize
                                 its waveform normalisation (done inside our encoder)

Labels: the task (``audio_classification``) loads ``dict.<labels>.txt`` with
``Dictionary.load(path, add_special_symbols=False)`` (lines ``label count``, no specials, class
``i`` = line ``i``) and keeps it in its state, which fairseq saves as the checkpoint's
``task_state["target_dictionary"]`` (a pickled ``Dictionary``: its ``symbols`` are the labels).
Without it, the labels come from a file: given, ``dict.<labels>.txt`` beside the checkpoint
(or in the task's ``target_dictionary`` / ``data`` directory) or ``labels.txt`` beside it
(one label a line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from xlsr.models.classifier import ACTIVATIONS, ClassifierConfig, ClassifierModel
from xlsr.models.fairseq_ctc import dict_candidates, read_fairseq_dict
from xlsr.models.fairseq_hf import CheckpointError, copy_head, fairseq_sections, load_fairseq
from xlsr.models.safe_pickle import to_plain

Pathlike = Union[str, Path]
ARCH = "wav2vec_classification"
#: fairseq head key -> ours (the same names: ClassifierModel keeps fairseq's)
HEAD_KEY_MAP = {
    f"pooling_layer.{layer}.{p}": f"pooling_layer.{layer}.{p}"
    for layer in ("linear", "projection")
    for p in ("weight", "bias")
}
LABELS_FILE = "labels.txt"


def read_label_file(path: Pathlike) -> List[str]:
    """Labels by class id from ``labels.txt`` (one label a line) or a fairseq
    ``dict.<labels>.txt`` (``label count`` lines, read without specials)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such label dictionary")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if all(len(line.split()) == 1 for line in lines):
        labels = lines
    else:
        labels = read_fairseq_dict(path, specials=())
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise CheckpointError(path, f"need at least 2 distinct labels, got {labels[:10]}")
    return labels


def task_state_labels(ckpt: Dict[str, Any]) -> Optional[List[str]]:
    """The symbols of the ``task_state["target_dictionary"]`` fairseq saved, or None."""
    state = to_plain(ckpt.get("task_state"))
    dictionary = state.get("target_dictionary") if isinstance(state, dict) else None
    symbols = dictionary.get("symbols") if isinstance(dictionary, dict) else None
    return [str(s) for s in symbols] if symbols else None


def find_labels(
    path: Path, ckpt: Dict[str, Any], labels: Union[Pathlike, Sequence[str], None] = None
) -> Tuple[List[str], List[Path]]:
    """(labels by class id, the file they come from (none for the checkpoint's own)).

    Args:
        path: the checkpoint (its directory is searched).
        ckpt: its contents.
        labels: the labels, or a label file; default: the checkpoint's ``task_state``, then
            the files of the module docstring.
    """
    if labels is not None and not isinstance(labels, (str, Path)):
        return list(labels), []
    if labels is not None:
        return read_label_file(labels), [Path(labels)]
    own = task_state_labels(ckpt)
    if own is not None:
        return own, []
    candidates = [*dict_candidates(path, ckpt), path.parent / LABELS_FILE]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise CheckpointError(
            path,
            "no label dictionary: the checkpoint has no task_state target_dictionary and "
            f"there is no {candidates[0].name} or {LABELS_FILE} beside it; pass the labels "
            "file (xlsr.load_model(path, vocabulary='dict.lang.txt'), one label a line or "
            "fairseq's 'label count' lines, in class-id order)",
        )
    return read_label_file(found), [found]


def classifier_config(path: Path, model_cfg: Dict[str, Any], state, num_classes: int):
    """The ClassifierConfig of a wav2vec_classification model config and weights."""
    pooling = str(model_cfg.get("pooling") or "first_token")  # fairseq's default
    if pooling != "mean":
        raise CheckpointError(
            path,
            f"pooling {pooling!r} is not supported: only 'mean' (fairseq MeanPoolingFast), "
            "the pooling of the released XLS-R LID model",
        )
    activation = str(model_cfg.get("activation_fn") or "gelu")
    if activation not in ACTIVATIONS:
        raise CheckpointError(
            path, f"activation_fn {activation!r} is not supported (one of {sorted(ACTIVATIONS)})"
        )
    latent = state.get("pooling_layer.linear.weight")
    return ClassifierConfig(
        num_classes=num_classes,
        latent_dim=int(latent.shape[0]) if latent is not None else 0,
        activation=activation,
    )


def load_fairseq_classifier(
    path: Pathlike,
    ckpt: Dict[str, Any],
    labels: Union[Pathlike, Sequence[str], None] = None,
) -> Tuple[ClassifierModel, List[str], List[Path]]:
    """A fairseq ``wav2vec_classification`` checkpoint (read into ``ckpt``) as our classifier.

    Args:
        path: the checkpoint file (for messages and to find the labels).
        ckpt: its contents (``xlsr.models.safe_pickle.torch_load``).
        labels: the labels by class id, or a label file (:func:`find_labels` by default).

    Returns:
        (model in eval mode, its labels by class id, the files used: the checkpoint and the
        label file, if any). ``model(waveforms (B, S), lengths (B,))`` gives
        ``(logits (B, classes), frames (B,))``.
    """
    path = Path(path)
    model_cfg, _ = fairseq_sections(path, ckpt)
    arch = str(model_cfg.get("_name") or model_cfg.get("arch") or "")
    state = ckpt.get("model") if isinstance(ckpt.get("model"), dict) else {}
    if arch != ARCH:
        raise CheckpointError(path, f"a fairseq {arch or 'unknown'} checkpoint, not {ARCH}")
    if "w2v_encoder.proj.weight" in state:
        raise CheckpointError(path, "w2v_encoder.proj before the pooling is not supported")
    names, files = find_labels(path, ckpt, labels)
    projection = state.get("pooling_layer.projection.weight")
    if projection is not None and projection.shape[0] != len(names):
        where = files[0] if files else "its task_state"
        raise CheckpointError(
            path,
            f"pooling_layer.projection has {projection.shape[0]} outputs, the label "
            f"dictionary ({where}) has {len(names)} labels",
        )
    cfg = classifier_config(path, model_cfg, state, len(names))
    model = ClassifierModel(load_fairseq(path, ckpt), cfg)
    copy_head(model, state, HEAD_KEY_MAP, path)
    return model.eval(), names, [path, *files]
