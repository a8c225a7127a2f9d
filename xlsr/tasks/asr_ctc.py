"""ASR with a CTC head (k2 or torch CTC loss), decoded with or without WFST graphs.

method                      options                               needs
ctc-greedy-search           -                                     -
ctc-decoding                GraphSearchConfig                     k2
1best                       GraphSearchConfig                     k2, HLG.pt, words.txt
nbest                       GraphSearchConfig, NbestConfig        k2, HLG.pt, words.txt
nbest-rescoring             + LmRescoreConfig                     k2, + the rescoring G
whole-lattice-rescoring     GraphSearchConfig, LmRescoreConfig    k2, HLG.pt, the rescoring G
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from xlsr.decode.graph_search import SearchConfig
from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.tasks.asr import AsrTask
from xlsr.tasks.base import Method, register


@dataclass
class GraphSearchConfig(SearchConfig):
    """k2 ``intersect_dense_pruned`` beams (icefall --search-beam / --output-beam ...)."""

    def __post_init__(self) -> None:
        for name in ("search_beam", "output_beam"):
            _positive(name, getattr(self, name))
        if not 0 < self.min_active_states <= self.max_active_states:
            raise ValueError(
                "--min-active-states / --max-active-states: need 0 < min <= max, got "
                f"{self.min_active_states}, {self.max_active_states}"
            )


@dataclass
class NbestConfig:
    num_paths: int = 100  # paths sampled from the lattice (icefall --num-paths)
    nbest_scale: float = 0.5  # scale of the lattice scores before sampling (--nbest-scale)

    def __post_init__(self) -> None:
        _positive("num_paths", self.num_paths)
        _positive("nbest_scale", self.nbest_scale)


@dataclass
class LmRescoreConfig:
    lm_scales: Tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 1.0)  # one result per scale

    def __post_init__(self) -> None:
        self.lm_scales = check_scales("lm_scales", self.lm_scales)


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--{name.replace('_', '-')} must be a finite number > 0, got {value!r}")


def check_scales(name: str, scales) -> Tuple[float, ...]:
    """LM scales: at least one, each finite and >= 0, none repeated."""
    option = "--" + name.replace("_", "-")
    scales = tuple(float(s) for s in scales)
    if not scales:
        raise ValueError(f"{option}: give at least one scale, e.g. 0.1,0.3,0.5")
    bad = [s for s in scales if not math.isfinite(s) or s < 0]
    if bad:
        raise ValueError(f"{option}: scales must be finite numbers >= 0, got {list(scales)}")
    if len(set(scales)) < len(scales):
        raise ValueError(f"{option}: {list(scales)} repeats a value")
    return scales


def _words(ctx, seqs: List[List[int]]) -> List[str]:
    return [" ".join(ctx["words"][w] for w in s) for s in seqs]


def _greedy(ctx, log_probs, frames, options) -> Dict[str, List[str]]:
    from xlsr.decode import ctc as D

    return {
        "ctc-greedy-search": [ctx["tokens"].decode(s) for s in D.greedy_search(log_probs, frames)]
    }


def _ctc_decoding(ctx, log_probs, frames, options):
    from xlsr.decode import ctc as D

    tok = ctx["tokens"]
    seqs = D.ctc_decoding(log_probs, frames, tok.vocab_size - 1, options[GraphSearchConfig])
    return {"ctc-decoding": [tok.decode(s) for s in seqs]}


def _one_best(ctx, log_probs, frames, options):
    from xlsr.decode import ctc as D

    return {
        "1best": _words(ctx, D.one_best(ctx["HLG"], log_probs, frames, options[GraphSearchConfig]))
    }


def _nbest(ctx, log_probs, frames, options):
    from xlsr.decode import ctc as D

    nb = options[NbestConfig]
    seqs = D.nbest(
        ctx["HLG"], log_probs, frames, options[GraphSearchConfig], nb.num_paths, nb.nbest_scale
    )
    return {"nbest": _words(ctx, seqs)}


def _nbest_rescoring(ctx, log_probs, frames, options):
    from xlsr.decode import ctc as D

    nb, search = options[NbestConfig], options[GraphSearchConfig]
    res = D.nbest_rescoring(
        ctx["HLG"],
        ctx["G_rescore"],
        log_probs,
        frames,
        search,
        list(options[LmRescoreConfig].lm_scales),
        nb.num_paths,
        nb.nbest_scale,
    )
    return {f"nbest-rescoring/{k}": _words(ctx, v) for k, v in res.items()}


def _whole_lattice_rescoring(ctx, log_probs, frames, options):
    from xlsr.decode import ctc as D

    res = D.whole_lattice_rescoring(
        ctx["HLG"],
        ctx["G_rescore"],
        log_probs,
        frames,
        options[GraphSearchConfig],
        list(options[LmRescoreConfig].lm_scales),
    )
    return {f"whole-lattice-rescoring/{k}": _words(ctx, v) for k, v in res.items()}


logger = logging.getLogger(__name__)


def ctc_greedy_word_times(ctx, log_probs, frames, shift: float) -> Dict[str, list]:
    """Word times of ``ctc-greedy-search`` from its best path (``Method.word_times``)."""
    from xlsr.decode import ctc as D

    best = log_probs.argmax(dim=-1).cpu()
    decode = ctx["tokens"].decode
    out = []
    for b, n in enumerate(frames.tolist()):
        tokens, spans = D.token_runs(best[b, :n].tolist())
        out.append(D.word_spans(tokens, spans, decode, shift))
    return {"ctc-greedy-search": out}


HLG_FILES = ("HLG", "words")


class AsrCtcTask(AsrTask):
    name = "asr_ctc"
    section = "ctc"
    config_cls = CtcConfig
    model_cls = CtcModel
    ctc_feasible = True
    methods = {
        "ctc-greedy-search": Method(_greedy, word_times=ctc_greedy_word_times),
        "ctc-decoding": Method(_ctc_decoding, (GraphSearchConfig,), needs_k2=True),
        "1best": Method(_one_best, (GraphSearchConfig,), HLG_FILES, True),
        "nbest": Method(_nbest, (GraphSearchConfig, NbestConfig), HLG_FILES, True),
        "nbest-rescoring": Method(
            _nbest_rescoring,
            (GraphSearchConfig, NbestConfig, LmRescoreConfig),
            (*HLG_FILES, "rescore_G"),
            True,
        ),
        "whole-lattice-rescoring": Method(
            _whole_lattice_rescoring,
            (GraphSearchConfig, LmRescoreConfig),
            (*HLG_FILES, "rescore_G"),
            True,
        ),
    }
    default_methods = ("ctc-greedy-search", "1best")

    def load_external(self, path, lang_dir):
        """A Hugging Face ``Wav2Vec2ForCTC`` directory (lang dir from local/prepare_lang_hf.py);
        its vocabulary may be upper case, so hypotheses are normalised like the references."""
        from xlsr.models.fairseq_hf import HF_WEIGHT_FILES
        from xlsr.models.hf_ctc import load_hf_ctc
        from xlsr.tasks.decode_model import check_lang_dir, model_info

        model, vocab = load_hf_ctc(path)
        check_lang_dir(lang_dir, vocab.vocab_size, str(path))
        model.vocabulary = vocab
        hf = Path(path)
        weights = [hf / n for n in HF_WEIGHT_FILES if (hf / n).exists()]
        weights = weights or sorted(hf.glob("*.index.json"))
        return model, model_info([hf / "config.json", *weights[:1]], "hf_model")

    def prepare(self, model, lang_dir, methods, options):
        """The token decoder, and the word table and graphs the methods use (only those)."""
        from xlsr.data.tokenizer import Tokenizer, read_symbols
        from xlsr.graph.lang_dir import LangDir

        lang = LangDir(lang_dir)
        # a Hugging Face model brings its own vocabulary (load_external)
        external = getattr(model, "vocabulary", None)
        ctx = {"tokens": external or Tokenizer(lang.tokenizer_dir)}
        needs = {f for m in methods for f in self.methods[m].lang_files}
        if "HLG" in needs:
            from xlsr.graph.compile import load_fsa

            ctx["words"] = read_symbols(lang.words)
            ctx["HLG"] = load_fsa(lang.HLG)
        if "rescore_G" in needs:
            from xlsr.decode.ctc import prepare_rescoring_G
            from xlsr.graph.compile import load_fsa
            from xlsr.graph.lexicon import symbol_table

            first = symbol_table(lang.words)["#0"]
            logger.info(
                "rescoring with %s (%d-gram; HLG from the %d-gram)",
                lang.rescore_G,
                lang.rescore_order,
                lang.first_pass_order,
            )
            ctx["G_rescore"] = prepare_rescoring_G(load_fsa(lang.rescore_G), first)
        return ctx


register(AsrCtcTask())
