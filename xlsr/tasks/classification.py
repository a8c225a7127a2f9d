"""Utterance classification tasks: ``lid`` (the supervision's ``language``) and ``sid`` (its
``speaker``), with the mean-pooling head of :mod:`xlsr.models.classifier`.

The label dictionary is ``labels.txt`` in the task's lang dir: one label a line, in class-id
order (fairseq's ``dict.<labels>.txt`` lines ``label count`` are read too; the count is
ignored). :func:`write_labels` makes it from training cuts.

Decoding methods (``argmax``: identification; ``verify``: speaker verification by view
embeddings and a trials file), their views of each utterance and their result files:
:mod:`xlsr.tasks.classification_decode`.

External classifiers decode through the same entry point (:meth:`ClassificationTask.
load_external`): a fairseq ``wav2vec_classification`` checkpoint (``--model released.pt``;
labels from its task_state, else ``dict.<labels>.txt`` / ``labels.txt`` beside it, else the
lang dir's ``labels.txt``) or a Hugging Face ``Wav2Vec2ForSequenceClassification`` dir
(``--model DIR`` or ``--hf-model DIR``; labels from its ``id2label``). Such a model brings
its labels, so the lang dir needs no ``labels.txt``; one that is there must be the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import torch

from xlsr.models.classifier import ClassifierConfig, ClassifierModel
from xlsr.tasks.base import Pathlike, Task, batch_loss, register
from xlsr.tasks.classification_decode import (  # noqa: F401 (re-exported)
    METHODS,
    VerificationConfig,
    ViewEnsemble,
    ViewOutput,
    ViewsConfig,
    identification_results,
    needs,
)

LABELS_FILE = "labels.txt"


def read_labels(lang_dir: Pathlike) -> List[str]:
    """The labels of ``<lang_dir>/labels.txt`` in class-id order."""
    path = Path(lang_dir) / LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no label dictionary (xlsr.tasks.classification.write_labels makes one)"
        )
    labels = [
        line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise ValueError(f"{path}: need at least 2 distinct labels, got {labels[:10]}")
    return labels


def write_labels(cuts: Iterable, field: str, lang_dir: Pathlike) -> List[str]:
    """Writes ``labels.txt``: the sorted distinct values of the supervisions' ``field``."""
    labels = sorted({getattr(c.supervisions[0], field) for c in cuts if c.supervisions} - {None})
    path = Path(lang_dir) / LABELS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
    return labels


class LabelTargets:
    """``cut -> class id`` of its supervision's ``field``; an unknown label raises (the data
    module skips the cut and counts it as ``target_error``). Picklable."""

    def __init__(self, labels: List[str], field: str) -> None:
        self.labels, self.field = list(labels), field
        self.index = {label: i for i, label in enumerate(self.labels)}

    def label(self, cut) -> str:
        return getattr(cut.supervisions[0], self.field) if cut.supervisions else None

    def __call__(self, cut) -> int:
        label = self.label(cut)
        if label not in self.index:
            raise ValueError(f"{self.field} {label!r} is not in the label dictionary")
        return self.index[label]


class ClassificationTask(Task):
    """Classify an utterance by one supervision field (see the module docstring)."""

    field = ""
    section = "classifier"
    config_cls = ClassifierConfig
    model_cls = ClassifierModel
    # the fields of ClassifierConfig that shape parameters (a resumed run must keep them)
    arch_fields = ("num_classes", "latent_dim", "pooling", "attention_dim", "weighted_layer_sum")
    require_text = False
    metric = "error"
    methods = METHODS
    default_methods = ("argmax",)
    normalise_external_hyps = False
    model_files = (
        LABELS_FILE,
    )  # the label dictionary next to the model  # hypotheses are labels, not text to normalise

    def targets(self, lang_dir: Pathlike) -> LabelTargets:
        return LabelTargets(read_labels(lang_dir), self.field)

    def lang_values(self, targets: LabelTargets) -> Dict[str, Any]:
        return {"num_classes": len(targets.labels)}

    def run_facts(self, targets: LabelTargets) -> Dict[str, Any]:
        return {"labels": list(targets.labels)}

    def loss(self, model, batch):
        """Summed cross-entropy (an all-skipped batch: silence with class 0, times 0)."""
        return batch_loss(model, batch, torch.zeros(1, dtype=torch.int64))

    def decoding_model(self, model, methods, options):
        """The views of each utterance, with what the methods read of them."""
        return ViewEnsemble(model, options[ViewsConfig], **needs(methods, options))

    def lang_files(self, lang_dir: Pathlike, methods, external: bool = False):
        """labels.txt, unless the model is external (it brings its labels)."""
        return {} if external else {Path(lang_dir) / LABELS_FILE: "the label dictionary"}

    def check_lang(self, lang_dir: Pathlike, cfg, run_config, source: str) -> None:
        """Refuses a labels.txt that is not the model's: another number of labels than
        ``cfg.num_classes``, or other labels (or order) than the ones ``run_config`` records
        (our runs; external models). Without labels.txt a model that records its labels
        is fine."""
        path, trained = Path(lang_dir) / LABELS_FILE, run_config.get("labels")
        if trained is not None and not path.is_file():
            return
        try:
            labels = read_labels(lang_dir)
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"--lang-dir {e}") from e
        trained = None if trained is None else [str(x) for x in trained]
        if len(labels) != cfg.num_classes or (trained is not None and trained != labels):
            ours = f" ({_show(trained)})" if trained is not None else ""
            raise SystemExit(
                f"--lang-dir {lang_dir}: {path} has {len(labels)} labels ({_show(labels)}), "
                f"not the {cfg.num_classes} labels of the model in {source}{ours}"
                f"{_first_difference(labels, trained)}; decode with the label dictionary "
                "the model was trained with (an external model needs none: it brings its own)"
            )

    def load_external(self, path: Pathlike, lang_dir: Pathlike, checkpoint=None):
        """(model, info) of an external classifier: a Hugging Face
        Wav2Vec2ForSequenceClassification dir, or with ``checkpoint`` (the contents of the
        file ``path``) a fairseq wav2vec_classification checkpoint (labels: its own, else a
        label file beside it, else ``<lang_dir>/labels.txt``). A labels.txt in ``lang_dir``
        must hold the model's labels (:meth:`check_lang`); the model's ``labels`` decode."""
        from xlsr.models.fairseq_hf import CheckpointError
        from xlsr.tasks.decode_model import model_info
        from xlsr.tasks.load import load_fairseq_classifier_model, load_hf_classifier_model

        path = Path(path)
        option = "--hf-model" if checkpoint is None else "--model"
        try:
            if checkpoint is None:
                loaded = load_hf_classifier_model(path, task=self.name)
            else:
                labels = _fairseq_labels(path, checkpoint, lang_dir)
                loaded = load_fairseq_classifier_model(path, checkpoint, labels, task=self.name)
        except CheckpointError as e:
            raise SystemExit(f"{option} {e}") from e
        self.check_lang(lang_dir, loaded.model.cfg, loaded.config, str(path))
        loaded.model.labels = list(loaded.vocabulary)
        weights = "hf_model" if checkpoint is None else "fairseq_model"
        return loaded.model, model_info(loaded.files, weights)

    def prepare(self, model, lang_dir: Pathlike, methods, options):
        """The labels by class id: an external model's own, else labels.txt's."""
        own = getattr(model, "labels", None)
        return {"labels": list(own) if own else read_labels(lang_dir)}

    def reference(self, lang_dir: Pathlike):
        field = self.field
        return lambda cut: str(getattr(cut.supervisions[0], field)) if cut.supervisions else ""

    def score(self, out_dir: Pathlike, test_set: str, items, **kwargs) -> dict:
        """Identification result files (the methods score their own: argmax's are these)."""
        return identification_results(out_dir, test_set, items, **kwargs)


def _show(labels: List[str], first: int = 5) -> str:
    more = f", ... ({len(labels)} in all)" if len(labels) > first else ""
    return ", ".join(labels[:first]) + more


def _first_difference(labels: List[str], trained) -> str:
    """Where two label lists of one length first differ (for the message)."""
    if trained is None or len(trained) != len(labels) or trained == labels:
        return ""
    i = next(i for i, (a, b) in enumerate(zip(labels, trained)) if a != b)
    return f"; class {i} is {labels[i]!r} in {LABELS_FILE}, {trained[i]!r} in the model"


def _fairseq_labels(path: Path, checkpoint, lang_dir: Pathlike) -> Optional[Path]:
    """The label file of a fairseq classifier: None where the checkpoint has its labels or
    a label file is beside it (:func:`xlsr.models.fairseq_classifier.find_labels`), else
    ``<lang_dir>/labels.txt``; CheckpointError naming every place looked at when none has
    them."""
    from xlsr.models.fairseq_classifier import LABELS_FILE as BESIDE
    from xlsr.models.fairseq_classifier import task_state_labels
    from xlsr.models.fairseq_ctc import dict_candidates
    from xlsr.models.fairseq_hf import CheckpointError

    beside = [*dict_candidates(path, checkpoint), path.parent / BESIDE]
    if task_state_labels(checkpoint) is not None or any(p.is_file() for p in beside):
        return None
    own = Path(lang_dir) / LABELS_FILE
    if own.is_file():
        return own
    raise CheckpointError(
        path,
        "no label dictionary: the checkpoint has no task_state target_dictionary, and "
        f"none of {[str(p) for p in beside]} nor {own} exists; write the labels in class-id "
        f"order to {own} (one a line, or fairseq's 'label count' lines)",
    )


class LidTask(ClassificationTask):
    name = "lid"
    field = "language"


class SidTask(ClassificationTask):
    name = "sid"
    field = "speaker"


register(LidTask())
register(SidTask())
