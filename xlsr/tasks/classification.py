"""Utterance classification tasks: ``lid`` (the supervision's ``language``) and ``sid`` (its
``speaker``), with the mean-pooling head of :mod:`xlsr.models.classifier`.

The label dictionary is ``labels.txt`` in the task's lang dir: one label a line, in class-id
order (fairseq's ``dict.<labels>.txt`` lines ``label count`` are read too; the count is
ignored). :func:`write_labels` makes it from training cuts.

Decoding methods (``argmax``: identification; ``verify``: speaker verification by view
embeddings and a trials file), their views of each utterance and their result files:
:mod:`xlsr.tasks.classification_decode`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List

import torch

from xlsr.models.classifier import ClassifierConfig, ClassifierModel
from xlsr.tasks.base import Pathlike, Task, batch_loss, register
from xlsr.tasks.classification_decode import (  # noqa: F401 (re-exported)
    METHODS,
    VerificationConfig,
    ViewEnsemble,
    ViewOutput,
    ViewsConfig,
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
        return {Path(lang_dir) / LABELS_FILE: "the label dictionary"}

    def check_lang(self, lang_dir: Pathlike, cfg, run_config, source: str) -> None:
        labels, trained = read_labels(lang_dir), run_config.get("labels")
        if len(labels) != cfg.num_classes or (trained is not None and trained != labels):
            raise SystemExit(
                f"--lang-dir {lang_dir}: {Path(lang_dir) / LABELS_FILE} has {len(labels)} "
                f"labels, not the {cfg.num_classes} of the model in {source} (trained with "
                f"{(trained or [])[:5]}...); decode with the label dictionary it was trained with"
            )

    def prepare(self, model, lang_dir: Pathlike, methods, options):
        return {"labels": read_labels(lang_dir)}

    def reference(self, lang_dir: Pathlike):
        field = self.field
        return lambda cut: str(getattr(cut.supervisions[0], field)) if cut.supervisions else ""

    def score(self, out_dir: Pathlike, test_set: str, items, **kwargs) -> dict:
        """Identification result files (the methods score their own: argmax's are these)."""
        from xlsr.scoring.classification import write_classification_results

        return write_classification_results(
            out_dir,
            test_set,
            items,
            kwargs.get("skipped_rule", "deleted"),
            kwargs.get("info"),
            kwargs.get("extra_fields", ()),
        )


class LidTask(ClassificationTask):
    name = "lid"
    field = "language"


class SidTask(ClassificationTask):
    name = "sid"
    field = "speaker"


register(LidTask())
register(SidTask())
