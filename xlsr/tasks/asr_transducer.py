"""ASR with a pruned transducer head (k2 pruned RNN-T loss).

method                      options                          needs
greedy_search               GreedyConfig                     -
modified_beam_search        BeamConfig                       -
fast_beam_search            FastBeamConfig                   k2 (a trivial graph)
fast_beam_search_nbest_LG   FastBeamConfig, NbestLGConfig    k2, LG.pt, words.txt
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

from xlsr.models.transducer import TransducerConfig, TransducerModel
from xlsr.tasks.asr import AsrTask
from xlsr.tasks.asr_ctc import check_scales
from xlsr.tasks.base import Method, register


def _at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


@dataclass
class GreedyConfig:
    max_sym_per_frame: int = 1  # symbols emitted per frame at most (icefall --max-sym-per-frame)

    def __post_init__(self) -> None:
        _at_least_one("max_sym_per_frame", self.max_sym_per_frame)


@dataclass
class BeamConfig:
    beam_size: int = 4  # hypotheses kept per frame (icefall --beam-size)

    def __post_init__(self) -> None:
        _at_least_one("beam_size", self.beam_size)


@dataclass
class FastBeamConfig:
    beam: float = 20.0  # search beam of k2's RNN-T decoding streams (icefall --beam)
    max_contexts: int = 8  # decoder contexts per frame (icefall --max-contexts)
    max_states: int = 64  # graph states per frame (icefall --max-states)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.beam) and self.beam > 0):
            raise ValueError(f"--beam must be a finite number > 0, got {self.beam!r}")
        _at_least_one("max_contexts", self.max_contexts)
        _at_least_one("max_states", self.max_states)


@dataclass
class NbestLGConfig:
    num_paths: int = 200  # paths sampled from the LG lattice (icefall --num-paths)
    nbest_scale: float = 0.5  # lattice score scale before sampling (icefall --nbest-scale)
    ngram_lm_scales: Tuple[float, ...] = (0.01, 0.1, 0.3)  # LG score scales, one result each

    def __post_init__(self) -> None:
        _at_least_one("num_paths", self.num_paths)
        if not (math.isfinite(self.nbest_scale) and self.nbest_scale > 0):
            raise ValueError(f"--nbest-scale must be a finite number > 0, got {self.nbest_scale!r}")
        self.ngram_lm_scales = check_scales("ngram_lm_scales", self.ngram_lm_scales)


def _greedy(ctx, encoder_out, frames, options):
    from xlsr.decode import transducer as D

    seqs = D.greedy_search(
        ctx["model"], encoder_out, frames, options[GreedyConfig].max_sym_per_frame
    )
    return {"greedy_search": [ctx["tokens"].decode(s) for s in seqs]}


def _modified_beam(ctx, encoder_out, frames, options):
    from xlsr.decode import transducer as D

    seqs = D.modified_beam_search(ctx["model"], encoder_out, frames, options[BeamConfig].beam_size)
    return {"modified_beam_search": [ctx["tokens"].decode(s) for s in seqs]}


def _fast(options) -> dict:
    f = options[FastBeamConfig]
    return dict(beam=f.beam, max_contexts=f.max_contexts, max_states=f.max_states)


def _fast_beam(ctx, encoder_out, frames, options):
    from xlsr.decode import transducer as D

    seqs = D.fast_beam_search_one_best(
        ctx["model"], ctx["trivial"], encoder_out, frames, **_fast(options)
    )
    return {"fast_beam_search": [ctx["tokens"].decode(s) for s in seqs]}


def _fast_beam_nbest_LG(ctx, encoder_out, frames, options):
    from xlsr.decode import transducer as D

    nb, out = options[NbestLGConfig], {}
    for scale in nb.ngram_lm_scales:
        seqs = D.fast_beam_search_nbest_LG(
            ctx["model"],
            ctx["LG"],
            encoder_out,
            frames,
            **_fast(options),
            num_paths=nb.num_paths,
            nbest_scale=nb.nbest_scale,
            ngram_lm_scale=scale,
        )
        words = ctx["words"]
        out[f"fast_beam_search_nbest_LG/ngram_lm_scale_{scale}"] = [
            " ".join(words[w] for w in s) for s in seqs
        ]
    return out


class AsrTransducerTask(AsrTask):
    name = "asr_transducer"
    section = "transducer"
    config_cls = TransducerConfig
    model_cls = TransducerModel
    arch_fields = ("vocab_size", "decoder_dim", "joiner_dim", "context_size")
    methods = {
        "greedy_search": Method(_greedy, (GreedyConfig,)),
        "modified_beam_search": Method(_modified_beam, (BeamConfig,)),
        "fast_beam_search": Method(_fast_beam, (FastBeamConfig,), needs_k2=True),
        "fast_beam_search_nbest_LG": Method(
            _fast_beam_nbest_LG, (FastBeamConfig, NbestLGConfig), ("LG", "words"), True
        ),
    }
    default_methods = ("greedy_search", "modified_beam_search")

    def prepare(self, model, lang_dir, methods, options):
        from xlsr.data.tokenizer import Tokenizer, read_symbols
        from xlsr.graph.lang_dir import LangDir

        lang = LangDir(lang_dir)
        ctx = {"model": model, "tokens": Tokenizer(lang.tokenizer_dir)}
        if "fast_beam_search" in methods:
            from xlsr.decode.transducer import trivial_graph

            ctx["trivial"] = trivial_graph(model)
        if "fast_beam_search_nbest_LG" in methods:
            from xlsr.graph.compile import load_fsa

            ctx["words"] = read_symbols(lang.words)
            ctx["LG"] = load_fsa(lang.LG)  # scaled by each ngram_lm_scales value
        return ctx


register(AsrTransducerTask())
