"""Decoding methods of the classification tasks (``lid``, ``sid``): several views per
utterance, identification by the merged scores, speaker verification by view embeddings.

    method   options                        writes in EXP_DIR/decode/<method>/
    argmax   ViewsConfig                    hyps (the best label; ``top``: the 5 best with
                                            their probabilities), score (accuracy overall /
                                            0-5 s / 5-20 s), report (fairseq's four lines),
                                            confusion-<set>.txt/.png; metric ``error``
    verify   ViewsConfig, VerificationConfig  scores-<set>.txt (a cosine score per trial),
                                            score (eer, min_dcf, trial and utterance counts),
                                            hyps (hyp ""); metric ``eer``
With ``--npz true`` either method also writes ``embeddings-<set>.npz``: fairseq
``gen_audio_embedding.py``'s arrays (name, latent, target, logit, src_len; see
:func:`xlsr.scoring.classification.write_embeddings_npz`) for its
``eval_speaker_clf_task.py`` and other analysis scripts.

Views (:class:`ViewEnsemble`), as the XLS-R LID evaluation (``gen_audio_embedding.py``):
``--views 10 --max-sample-size 160000 --seed 123 --merge mean_prob``. An utterance longer
than ``max_sample_size`` samples gets an independent uniform random crop of that length per
view; a shorter one is used whole (its views are identical, so it runs once). fairseq pads
every view to ``max_sample_size`` with a mask that marks one padded sample as real (an
off-by-one); here each view is exactly its real samples. The views' scores are merged by
:func:`xlsr.scoring.classification.merge_views`.

Verification, as fairseq ``eval_speaker_clf_task.py --task veri --merge mean_latent_sim``:
the embedding of a view is the pooled vector before the activation and projection (the
classifier's ``embed``), a trial's score the mean cosine similarity over all pairs of the
two utterances' views (``first_latent_sim``: the first views only; ``*_logit_sim``: the
logits instead of the embeddings), EER and minDCF (``--p-target``) over the trials of
``--trials`` (format: :mod:`xlsr.scoring.verification`; every cut id must be in the test
set, checked before the model is loaded). Verification speakers are unseen: their labels
need not be in labels.txt.

Each view runs through the encoder once: ``model(...)`` where only logits are needed
(argmax, ``*_logit_sim``), ``model.embed(...)`` where only embeddings are (verify), and
``model.logits_and_embeddings(...)`` where both are (``--npz``, argmax beside verify).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from xlsr.tasks.base import Method

TOP_K = 5  # labels in a hyps row's "top"
SIMILARITIES = ("mean_latent_sim", "first_latent_sim", "mean_logit_sim", "first_logit_sim")


@dataclass
class ViewsConfig:
    views: int = 1  # crops per utterance (the XLS-R LID evaluation: 10)
    max_sample_size: int = 160000  # samples per crop (fairseq task max_sample_size: 10 s)
    seed: int = 123  # numpy seed of the crop offsets (fairseq's evaluation: 123)
    merge: str = "mean_prob"  # mean_prob | mean_logit (fairseq's name, same) | mean_raw_logit
    npz: bool = False  # also write embeddings-<set>.npz (fairseq gen_audio_embedding.py's)

    def __post_init__(self) -> None:
        from xlsr.scoring.classification import MERGES

        if self.views < 1 or self.max_sample_size < 400:
            raise ValueError(
                "--views must be >= 1 and --max-sample-size >= 400, got "
                f"{self.views}, {self.max_sample_size}"
            )
        if self.merge not in MERGES:
            raise ValueError(f"--merge must be one of {MERGES}, got {self.merge!r}")


@dataclass
class VerificationConfig:
    trials: str = ""  # trials file of verify: '<1|0> <enrol cut id> <test cut id>' a line
    p_target: float = 0.01  # prior of a target trial in minDCF (fairseq, NIST SRE: 0.01)
    similarity: str = "mean_latent_sim"  # fairseq --merge: mean|first _ latent|logit _sim

    def __post_init__(self) -> None:
        if not 0.0 < self.p_target < 1.0:
            raise ValueError(f"--p-target must be in (0, 1), got {self.p_target}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"--similarity must be one of {SIMILARITIES}, got {self.similarity!r}")


@dataclass
class ViewOutput:
    """What :class:`ViewEnsemble` gives for a batch of B utterances.

    Attributes:
        scores: (B, classes) the views merged (``ViewsConfig.merge``); None without logits.
        logits: per utterance (v, classes) float32 logits of its views (v = 1 for an
            utterance not longer than a crop, else ``views``); None where not computed.
        embeddings: per utterance (v, E) float32 embeddings of its views (the model's
            ``embed``); None where not computed.
        lengths: (B,) samples of each whole utterance.
    """

    scores: Optional[torch.Tensor]
    logits: List[Optional[np.ndarray]]
    embeddings: List[Optional[np.ndarray]]
    lengths: torch.Tensor


class ViewEnsemble:
    """``(waveforms, lengths) -> (ViewOutput, lengths)``: each utterance as ``cfg.views``
    crops through ``model`` (see the module docstring). The crop offsets come from one numpy
    generator in decoding order, so a run is reproducible.

    Args:
        model: ``model(waveforms, lengths) -> (logits, frames)``; with ``embeddings`` also
            ``model.embed(waveforms, lengths) -> (embeddings, frames)`` and, with both,
            ``model.logits_and_embeddings(waveforms, lengths) -> (logits, embeddings,
            frames)`` (a :class:`xlsr.models.classifier.ClassifierModel`).
        cfg: the views.
        logits: compute the views' logits (and the merged scores).
        embeddings: compute the views' embeddings (both: from one encoder pass per view).
    """

    def __init__(
        self, model, cfg: ViewsConfig, logits: bool = True, embeddings: bool = False
    ) -> None:
        self.model, self.cfg = model, cfg
        self.want_logits, self.want_embeddings = logits, embeddings
        self.rng = np.random.RandomState(cfg.seed)

    def crops(self, wave: torch.Tensor) -> torch.Tensor:
        """(views, samples) crops of one utterance (1 view when it is not longer than a crop)."""
        n, size = wave.numel(), self.cfg.max_sample_size
        if n <= size:
            return wave[None]
        starts = self.rng.randint(0, n - size + 1, size=self.cfg.views)
        return torch.stack([wave[s : s + size] for s in starts.tolist()])

    def _views(self, views: torch.Tensor):
        """(logits (v, classes), embeddings (v, E)) as float32 numpy, each None if unwanted."""
        sizes = torch.full((views.shape[0],), views.shape[1], dtype=torch.int64)
        logits = embeddings = None
        if self.want_logits and self.want_embeddings:
            logits, embeddings, _ = self.model.logits_and_embeddings(views, sizes)
        elif self.want_logits:
            logits = self.model(views, sizes)[0]
        elif self.want_embeddings:
            embeddings = self.model.embed(views, sizes)[0]
        return _numpy(logits), _numpy(embeddings)

    @torch.no_grad()
    def __call__(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        from xlsr.scoring.classification import merge_views

        logits, embeddings = [], []
        for wave, n in zip(waveforms, lengths.tolist()):
            view_logits, view_embeddings = self._views(self.crops(wave[:n]))
            logits.append(view_logits)
            embeddings.append(view_embeddings)
        scores = None
        if self.want_logits:
            merged = [merge_views(x[None], self.cfg.merge)[0] for x in logits]
            scores = torch.from_numpy(np.stack(merged))
        return ViewOutput(scores, logits, embeddings, lengths.clone()), lengths


def _numpy(x: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if x is None else x.float().cpu().numpy()


def needs(methods: List[str], options) -> Dict[str, bool]:
    """What the chosen methods read of each view: ``logits`` and / or ``embeddings``."""
    npz = options[ViewsConfig].npz
    verify_logits = "verify" in methods and "logit" in options[VerificationConfig].similarity
    return {
        "logits": "argmax" in methods or npz or verify_logits,
        "embeddings": npz or ("verify" in methods and not verify_logits),
    }


# ------------------------------------------------------------------------------- argmax


def _argmax(ctx, out: ViewOutput, frames, options) -> Dict[str, List[str]]:
    return {"argmax": [ctx["labels"][i] for i in out.scores.argmax(-1).tolist()]}


def _npz_fields(out: ViewOutput, options) -> List[dict]:
    """Per utterance ``_views`` (logits, embeddings, samples) where ``--npz`` asks for them."""
    if not options[ViewsConfig].npz:
        return [{} for _ in out.lengths]
    return [
        {"_views": {"logit": lg, "latent": emb, "src_len": int(n)}}
        for lg, emb, n in zip(out.logits, out.embeddings, out.lengths.tolist())
    ]


def _argmax_fields(ctx, out: ViewOutput, frames, options) -> Dict[str, List[dict]]:
    """``top``: the ``TOP_K`` best labels with their merged probabilities (for
    ``mean_raw_logit``: the softmax of the mean logits), best first."""
    from xlsr.scoring.classification import softmax, top_labels

    scores = out.scores.double().numpy()
    probs = softmax(scores) if options[ViewsConfig].merge == "mean_raw_logit" else scores
    tops = [{"top": top_labels(p, ctx["labels"], TOP_K)} for p in probs]
    return {"argmax": [{**t, **v} for t, v in zip(tops, _npz_fields(out, options))]}


def _write_npz(ctx, out_dir, test_set: str, items, options) -> None:
    from xlsr.scoring.classification import write_embeddings_npz

    if options[ViewsConfig].npz:
        path = Path(out_dir) / f"embeddings-{test_set}.npz"
        write_embeddings_npz(path, items, ctx["labels"], options[ViewsConfig].views)


def identification_results(out_dir, test_set: str, items, **kwargs) -> dict:
    """The identification result files (hyps, score, report, confusion) of ``items``, with
    the runner's scoring keywords (``skipped_rule``, ``info``, ``extra_fields``)."""
    from xlsr.scoring.classification import write_classification_results

    return write_classification_results(
        out_dir,
        test_set,
        items,
        kwargs.get("skipped_rule", "deleted"),
        kwargs.get("info"),
        kwargs.get("extra_fields", ()),
    )


def _argmax_score(ctx, out_dir, test_set: str, items, options, **kwargs) -> dict:
    scores = identification_results(out_dir, test_set, items, **kwargs)
    _write_npz(ctx, out_dir, test_set, items, options)
    return scores


# ------------------------------------------------------------------------------- verify


def _verify(ctx, out: ViewOutput, frames, options) -> Dict[str, List[str]]:
    return {"verify": [""] * len(out.lengths)}


def _verify_fields(ctx, out: ViewOutput, frames, options) -> Dict[str, List[dict]]:
    """``_embedding``: per utterance the (E,) vector whose dot products are the trial scores
    (:func:`xlsr.scoring.verification.unit_mean` of the views, or of the first view)."""
    from xlsr.scoring.verification import unit_mean

    how = options[VerificationConfig].similarity
    per_utt = out.logits if "logit" in how else out.embeddings
    first = how.startswith("first")
    vectors = [{"_embedding": unit_mean(x[:1] if first else x)} for x in per_utt]
    return {"verify": [{**v, **n} for v, n in zip(vectors, _npz_fields(out, options))]}


def _trials(utts, options):
    """The trials of ``--trials`` (SystemExit naming the option, the file and the line)."""
    from xlsr.scoring.verification import read_trials

    path = options[VerificationConfig].trials
    if not path:
        raise SystemExit("--methods verify needs --trials FILE ('<1|0> <enrol id> <test id>')")
    if not Path(path).is_file():
        raise SystemExit(f"--trials {path}: no such file")
    try:
        return read_trials(path, known=utts)
    except (ValueError, UnicodeDecodeError) as e:
        raise SystemExit(f"--trials {e}") from e


def _verify_score(ctx, out_dir, test_set: str, items, options, **kwargs) -> dict:
    from xlsr.scoring.verification import write_verification_results

    cfg = options[VerificationConfig]
    trials = _trials({it["id"] for it in items}, options)
    vectors = {it["id"]: it["_embedding"] for it in items if "_embedding" in it}
    info = {"trials_file": cfg.trials, "similarity": cfg.similarity, **(kwargs.get("info") or {})}
    scores = write_verification_results(
        out_dir, test_set, items, trials, vectors, cfg.p_target, info
    )
    _write_npz(ctx, out_dir, test_set, items, options)
    return scores


METHODS = {
    "argmax": Method(
        _argmax, (ViewsConfig,), fields=_argmax_fields, score=_argmax_score, metric="error"
    ),
    "verify": Method(
        _verify,
        (ViewsConfig, VerificationConfig),
        fields=_verify_fields,
        score=_verify_score,
        metric="eer",
        check=_trials,
    ),
}
