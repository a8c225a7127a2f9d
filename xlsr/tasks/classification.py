"""Utterance classification tasks: ``lid`` (the supervision's ``language``) and ``sid`` (its
``speaker``), with the mean-pooling head of :mod:`xlsr.models.classifier`.

The label dictionary is ``labels.txt`` in the task's lang dir: one label a line, in class-id
order (fairseq's ``dict.<labels>.txt`` lines ``label count`` are read too; the count is
ignored). :func:`write_labels` makes it from training cuts.

    method   options       writes
    argmax   ViewsConfig   hyps (the predicted label), score (accuracy overall / 0-5 s /
                           5-20 s), report-<set>.txt (fairseq's four-line report)

Views, as the XLS-R LID evaluation (fairseq ``gen_audio_embedding.py``): ``--views 10
--max-sample-size 160000 --seed 123 --merge mean_prob``. An utterance longer than
``max_sample_size`` samples gets an independent uniform random crop of that length per view;
a shorter one is used whole (its views are identical, so it runs once). fairseq pads every
view to ``max_sample_size`` with a mask that marks one padded sample as real (an off-by-one);
here each view is exactly its real samples. The views' scores are merged by
:func:`xlsr.scoring.classification.merge_views`.

Not yet (issue 11): attentive pooling, verification, the numbers recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List

import numpy as np
import torch

from xlsr.models.classifier import ClassifierConfig, ClassifierModel
from xlsr.tasks.base import Method, Pathlike, Task, batch_loss, register

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


@dataclass
class ViewsConfig:
    views: int = 1  # crops per utterance (the XLS-R LID evaluation: 10)
    max_sample_size: int = 160000  # samples per crop (fairseq task max_sample_size: 10 s)
    seed: int = 123  # numpy seed of the crop offsets (fairseq's evaluation: 123)
    merge: str = "mean_prob"  # mean_prob | mean_logit (fairseq's name, same) | mean_raw_logit

    def __post_init__(self) -> None:
        from xlsr.scoring.classification import MERGES

        if self.views < 1 or self.max_sample_size < 400:
            raise ValueError(
                f"--views must be >= 1 and --max-sample-size >= 400, got {self.views}, {self.max_sample_size}"
            )
        if self.merge not in MERGES:
            raise ValueError(f"--merge must be one of {MERGES}, got {self.merge!r}")


class ViewEnsemble:
    """``(waveforms, lengths) -> (merged scores (B, classes), lengths)``: each utterance as
    ``cfg.views`` crops through ``model``, merged (see the module docstring). The crop offsets
    come from one numpy generator in decoding order, so a run is reproducible."""

    def __init__(self, model, cfg: ViewsConfig) -> None:
        self.model, self.cfg = model, cfg
        self.rng = np.random.RandomState(cfg.seed)

    def crops(self, wave: torch.Tensor) -> torch.Tensor:
        """(views, samples) crops of one utterance (1 view when it is not longer than a crop)."""
        n, size = wave.numel(), self.cfg.max_sample_size
        if n <= size:
            return wave[None]
        starts = self.rng.randint(0, n - size + 1, size=self.cfg.views)
        return torch.stack([wave[s : s + size] for s in starts.tolist()])

    @torch.no_grad()
    def __call__(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        from xlsr.scoring.classification import merge_views

        merged = []
        for wave, n in zip(waveforms, lengths.tolist()):
            views = self.crops(wave[:n])
            sizes = torch.full((views.shape[0],), views.shape[1], dtype=torch.int64)
            logits, _ = self.model(views, sizes)
            merged.append(merge_views(logits.float().cpu().numpy()[None], self.cfg.merge)[0])
        return torch.from_numpy(np.stack(merged)), lengths


def _argmax(ctx, scores, frames, options) -> Dict[str, List[str]]:
    return {"argmax": [ctx["labels"][i] for i in scores.argmax(-1).tolist()]}


class ClassificationTask(Task):
    """Classify an utterance by one supervision field (see the module docstring)."""

    field = ""
    section = "classifier"
    config_cls = ClassifierConfig
    model_cls = ClassifierModel
    arch_fields = ("num_classes", "latent_dim")
    require_text = False
    metric = "error"
    methods = {"argmax": Method(_argmax, (ViewsConfig,))}
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
        return ViewEnsemble(model, options[ViewsConfig])

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
        from xlsr.scoring.classification import write_classification_results

        return write_classification_results(
            out_dir, test_set, items, kwargs.get("skipped_rule", "deleted"), kwargs.get("info")
        )


class LidTask(ClassificationTask):
    name = "lid"
    field = "language"


class SidTask(ClassificationTask):
    name = "sid"
    field = "speaker"


register(LidTask())
register(SidTask())
