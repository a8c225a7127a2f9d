"""Speech translation (``st``): XLS-R + adaptor + mBART decoder (:mod:`xlsr.models.st`),
trained on ST pair cuts (:func:`xlsr.data.translation.st_pairs`) and scored by BLEU / chrF.

The lang dir holds the target tokenizer in ``target_tokenizer/`` (with language tags,
:func:`xlsr.data.translation.train_target_tokenizer`) and, for the auxiliary CTC loss on the
source transcript (``--st-ctc-weight``), the ASR tokenizer in ``tokenizer/``.

    method          options                         writes in EXP_DIR/decode/<method>/
    greedy_search   SearchConfig, TargetLangConfig  hyps (src_lang, tgt_lang), score (bleu,
    beam_search     SearchConfig, TargetLangConfig, chrf, signature, bleu_loss), report
                    CtcRescoreConfig (--ctc-weight:
                    joint CTC/attention n-best scores,
                    a target-CTC model)
    ctc_greedy_search  (the source-CTC head: ASR)   hyps, score (wer, cer) against the source
                                                    transcripts, each utterance once

The decoder starts from ``</s> <lang tag>``: the target language is forced (mBART-50, HF
``forced_bos_token_id``). Each cut of the test set says its target language (supervision
custom ``tgt_lang`` of an ST pair cut); audio without one is decoded into ``--tgt-lang``.
The methods get the batch's cut ids (``Method.cut_ids``) and search once per target
language of the batch, on its rows. ``beam_search`` writes the best of its n-best.

The target tokenizer travels with the model (``model_files``: copied into the exp dir and
into exports). ``arch_fields`` leave out ``ctc_weight``: resuming with CTC turned on or off
fails when the checkpoint is read (the CTC head's weights), not up front. External ST
models (HF ``SpeechEncoderDecoderModel``, fairseq ``xm_transformer``) bring their own
vocabulary (``load_external``: :mod:`xlsr.tasks.st_external`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch

from xlsr.decode.st_search import SearchConfig
from xlsr.models.st import StConfig, StModel
from xlsr.models.st import StTargets as ModelTargets
from xlsr.tasks.base import Method, Pathlike, Task, batch_loss, register

logger = logging.getLogger(__name__)


@dataclass
class TargetLangConfig:
    tgt_lang: str = ""  # target language of cuts that name none (audio files; e.g. "en")


@dataclass
class CtcRescoreConfig:
    # beam_search: joint CTC/attention score of the n-best (all beam hypotheses), weight of
    # the CTC; needs a model with a target CTC (--st-ctc-target target); 0 = off
    ctc_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"--ctc-weight must be in [0, 1], got {self.ctc_weight}")


def target_tokenizer_dir(lang_dir: Pathlike) -> Path:
    from xlsr.graph.lang_dir import LangDir

    return LangDir(lang_dir).target_tokenizer_dir


def source_tokenizer_dir(lang_dir: Pathlike) -> Optional[Path]:
    """The ASR tokenizer of the lang dir (auxiliary CTC), None where there is none."""
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(lang_dir)
    return lang.tokenizer_dir if lang.tokenizer_tokens.is_file() else None


def _pad(rows: List[List[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
    return out


def collate_targets(items: List[Mapping[str, List[int]]], pad_id: int = 1) -> ModelTargets:
    """Per-cut ``{"targets", "decoder_input"[, "source"]}`` (:class:`xlsr.data.translation.
    StTargets`) -> the model's padded targets (B, U); ``source`` (B, S) padded with 0 and
    its lengths where every cut has one."""
    if not items:
        raise ValueError("collate_targets: no targets")
    prev = _pad([list(t["decoder_input"]) for t in items], pad_id)
    target = _pad([list(t["targets"]) for t in items], pad_id)
    if prev.shape != target.shape:
        raise ValueError(f"decoder input {tuple(prev.shape)} for targets {tuple(target.shape)}")
    if not all("source" in t for t in items):
        return ModelTargets(prev, target)
    sources = [list(t["source"]) for t in items]
    lengths = torch.tensor([len(s) for s in sources], dtype=torch.int64)
    return ModelTargets(prev, target, _pad([s or [0] for s in sources], 0), lengths)


def _to(targets: ModelTargets, device) -> ModelTargets:
    return ModelTargets(*(None if t is None else t.to(device) for t in targets))


class References:
    """``cut -> normalised target text`` for scoring; records each cut's target language
    (``tgt_langs``: cut id -> language) for the decoding methods. A cut without an ST
    target (not an :func:`st_pairs` cut) has reference "" and no target language."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.tgt_langs: Dict[str, str] = {}
        self.untagged = 0  # utterances of the test set without a target language (check)
        #: cut id -> (source utterance id, normalised source transcript): the references of
        #: the CTC head's ASR output (``ctc_greedy_search``)
        self.sources: Dict[str, Tuple[str, str]] = {}

    def __call__(self, cut) -> str:
        from xlsr.data.translation import target_of

        source = " ".join((s.text or "").strip() for s in cut.supervisions).strip()
        try:
            tgt_lang, text = target_of(cut)
        except ValueError:
            self.sources[cut.id] = (cut.id, self.tokenizer.normalize(source))
            return ""
        self.tgt_langs[cut.id] = tgt_lang
        origin = cut.id[: -len(tgt_lang) - 1] if cut.id.endswith(f"_{tgt_lang}") else cut.id
        self.sources[cut.id] = (origin, self.tokenizer.normalize(source))
        return self.tokenizer.normalize(text)


class StBatch(NamedTuple):
    """What decoding runs on a batch (:meth:`StTask.decoding_model`): the decoder memory and,
    where ``ctc_greedy_search`` is chosen, the CTC head's log-probabilities."""

    memory: torch.Tensor  # (B, T', D)
    memory_lengths: torch.Tensor  # (B,)
    ctc_log_probs: Optional[torch.Tensor] = None  # (B, T, V) over the source tokens
    ctc_frames: Optional[torch.Tensor] = None  # (B,)


class _Decoding(torch.nn.Module):
    """``(waveforms, lengths) -> (StBatch, memory lengths)``: one encoder pass for the
    decoder's memory and, with ``ctc``, the CTC head's output."""

    def __init__(self, model, ctc: bool) -> None:
        super().__init__()
        self.model, self.ctc = model, ctc

    def forward(self, waveforms, lengths):
        hidden, frames = self.model.encode(waveforms, lengths)
        memory, memory_lengths = self.model._bridge(hidden, frames)
        log_probs = None
        if self.ctc:
            log_probs = self.model.ctc_head(hidden).float().log_softmax(dim=-1)
        return StBatch(memory, memory_lengths, log_probs, frames), memory_lengths


def _memory(output):
    """The decoder memory of a batch (an :class:`StBatch`, or the memory itself)."""
    return output.memory if isinstance(output, StBatch) else output


class _NormaliserOnly:
    """The part of a target tokenizer that :class:`References` uses: ``normalize``."""

    def __init__(self, normalize) -> None:
        self.normalize = normalize
        self.directory = None
        self.languages: Optional[List[str]] = None  # known once the model is loaded


def _ctc_wanted(model, methods, options) -> bool:
    """Whether decoding needs the CTC head's output; SystemExit where the model's head does
    not serve the chosen methods (none, or over the other side's tokens)."""
    joint = options.get(CtcRescoreConfig)
    rescore = "beam_search" in methods and joint is not None and joint.ctc_weight > 0
    ctc_target = getattr(getattr(model, "cfg", None), "ctc_target", "source")
    if (CTC_METHOD in methods or rescore) and getattr(model, "ctc_head", None) is None:
        what = f"--methods {CTC_METHOD}" if CTC_METHOD in methods else "--ctc-weight"
        raise SystemExit(
            f"{what}: this model has no CTC head (it was trained with --st-ctc-weight 0); "
            "choose greedy_search / beam_search without --ctc-weight"
        )
    if CTC_METHOD in methods and ctc_target != "source":
        raise SystemExit(
            f"--methods {CTC_METHOD}: this model's CTC head is over the target tokens "
            "(--st-ctc-target target), not the source transcript; use beam_search "
            "--ctc-weight W for its joint CTC/attention scores"
        )
    if rescore and ctc_target != "target":
        raise SystemExit(
            "--ctc-weight: this model's CTC head is over the source transcript (ASR: --methods "
            f"{CTC_METHOD}), not the target tokens, so it cannot score translations; train "
            "with --st-ctc-target target for joint CTC/attention scores, or decode with "
            "--ctc-weight 0"
        )
    return CTC_METHOD in methods or rescore


class StTask(Task):
    """Speech translation (see the module docstring)."""

    name = "st"
    section = "st"
    config_cls = StConfig
    model_cls = StModel
    # the fields of StConfig that shape parameters (a resumed run must keep them)
    arch_fields = (
        "vocab_size",
        "decoder_embed_dim",
        "decoder_layers",
        "decoder_attention_heads",
        "decoder_ffn_embed_dim",
        "max_target_positions",
        "adaptor_layers",
        "adaptor_kernel",
        "adaptor_stride",
        "encoder_proj",
        "encoder_proj_layer_norm",
        "source_vocab_size",
        "ctc_target",
    )
    require_text = True
    metric = "bleu_loss"  # 100 - BLEU: summaries rank lower-is-better
    methods: Dict[str, Method] = {}  # METHODS, below
    default_methods = ("greedy_search",)
    # the target tokenizer travels with the model: copied into the exp dir by training and
    # into exports (xlsr.data.translation's DIR_NAME / META_FILE / MODEL_FILE)
    model_files = ("target_tokenizer/target_tokenizer.json", "target_tokenizer/target.model")

    def __init__(self) -> None:
        self._references: Optional[References] = None

    def targets(self, lang_dir: Pathlike):
        from xlsr.data.translation import StTargets

        return StTargets(target_tokenizer_dir(lang_dir), source_tokenizer_dir(lang_dir))

    def lang_values(self, targets) -> Dict[str, Any]:
        source = targets.source.tokenizer.vocab_size if targets.source is not None else 0
        return {"vocab_size": targets.tokenizer.vocab_size, "source_vocab_size": source}

    def run_facts(self, targets) -> Dict[str, Any]:
        """``target_tokens_hash``: of the target sentencepiece model; ``tokens_hash``: of the
        ASR token table (None without one)."""
        from xlsr.data.translation import MODEL_FILE
        from xlsr.utils.fingerprint import short_hash

        source = None
        if targets.source is not None:
            source = short_hash(targets.source.tokenizer.directory / "tokens.txt")
        target = short_hash(targets.tokenizer.directory / MODEL_FILE)
        return {"target_tokens_hash": target, "tokens_hash": source}

    def loss(self, model, batch):
        """Summed label-smoothed CE (+ CTC): the per-cut target dicts padded with pad id 1; an
        all-skipped batch runs on silence with a one-token target, times 0."""
        core = model.module if hasattr(model, "module") else model
        device = next(core.parameters()).device
        sups = batch["supervisions"]
        if len(sups["targets"]):
            pad = core.cfg.pad_id
            targets = _to(collate_targets(sups["targets"], pad), device)
            batch = {**batch, "supervisions": {**sups, "targets": targets}}
        eos = torch.tensor([[core.cfg.eos_id]], device=device)
        none = torch.zeros(1, dtype=torch.int64, device=device)
        empty = ModelTargets(eos, eos, none[None], none)  # CTC: an empty source
        return batch_loss(model, batch, empty)

    def lang_files(self, lang_dir: Pathlike, methods, external: bool = False):
        from xlsr.data.translation import META_FILE, MODEL_FILE
        from xlsr.graph.lang_dir import LangDir

        need = {}
        if CTC_METHOD in methods:  # the source tokens of the CTC head
            need[LangDir(lang_dir).tokenizer_tokens] = f"{CTC_METHOD} (the source tokens)"
        if external:  # the model brings its vocabulary
            return need
        tok = target_tokenizer_dir(lang_dir)
        need[tok / META_FILE] = need[tok / MODEL_FILE] = "the target tokenizer"
        return need

    def check_lang(self, lang_dir: Pathlike, cfg, run_config, source: str) -> None:
        """Refuses a target tokenizer with another vocabulary size than the model's, or
        (where the run recorded one) another ``target_tokens_hash``."""
        from xlsr.data.translation import MODEL_FILE, TargetTokenizer
        from xlsr.utils.fingerprint import short_hash

        try:
            tok = TargetTokenizer(target_tokenizer_dir(lang_dir))
        except (FileNotFoundError, OSError, ValueError) as e:
            raise SystemExit(f"--lang-dir {lang_dir}: {e}") from e
        was = run_config.get("target_tokens_hash")
        now = short_hash(tok.directory / MODEL_FILE)
        if tok.vocab_size != cfg.vocab_size or (was and was != now):
            raise SystemExit(
                f"--lang-dir {lang_dir}: {tok.directory} ({tok.vocab_size} pieces, hash {now}) "
                f"is not the target tokenizer of the model in {source} ({cfg.vocab_size} "
                f"pieces, target_tokens_hash {was}); decode with the lang dir the model was "
                "trained with"
            )

    def reference(self, lang_dir: Pathlike) -> References:
        """References normalised by the lang dir's target tokenizer; a lang dir without one
        (decoding an external model, which brings its vocabulary) normalises with its
        ``text_norm.json`` (the default normaliser where there is none)."""
        from xlsr.data.text_norm import TextNormalizer
        from xlsr.data.translation import TargetTokenizer

        tok_dir = target_tokenizer_dir(lang_dir)
        if (tok_dir / "target_tokenizer.json").is_file():
            tokenizer: Any = TargetTokenizer(tok_dir)
        else:
            tokenizer = _NormaliserOnly(TextNormalizer.load(lang_dir))
        self._references = References(tokenizer)
        return self._references

    def decoding_model(self, model, methods, options):
        """The model's memory and, for ``ctc_greedy_search`` or joint CTC/attention scores
        (``--ctc-weight``), its CTC head's output, from one encoder pass."""
        return _Decoding(model, _ctc_wanted(model, methods, options)).eval()

    def load_external(self, path: Pathlike, lang_dir: Pathlike, checkpoint=None):
        """(model, info) of an existing ST model: a Hugging Face ``SpeechEncoderDecoderModel``
        dir, or with ``checkpoint`` a fairseq ``xm_transformer`` checkpoint; the model brings
        its vocabulary (``model.target_vocabulary``, the mBART-50 one)."""
        from xlsr.tasks.st_external import load_external

        return load_external(path, lang_dir, checkpoint)

    def prepare(self, model, lang_dir: Pathlike, methods, options):
        """The target tokenizer and each cut's target language (from :meth:`reference` of
        this test set; without one, e.g. ``load_decoder``, only ``--tgt-lang``)."""
        from xlsr.data.translation import TargetTokenizer

        refs, self._references = self._references, None  # one test set's, used once
        tgt_langs = dict(refs.tgt_langs) if refs is not None else {}
        default = options[TargetLangConfig].tgt_lang
        untagged = refs is None or refs.untagged > 0
        languages = sorted(set(tgt_langs.values()) | ({default} if default and untagged else set()))
        # an external model brings its vocabulary (load_external)
        tokenizer = getattr(model, "target_vocabulary", None)
        if tokenizer is None:
            tokenizer = TargetTokenizer(target_tokenizer_dir(lang_dir))
        else:
            _check_languages(tgt_langs.values(), default, tokenizer)
        source = None
        if _ctc_wanted(model, methods, options) and CTC_METHOD in methods:
            from xlsr.data.tokenizer import Tokenizer

            source = Tokenizer(source_tokenizer_dir(lang_dir) or target_tokenizer_dir(lang_dir))
            head = getattr(model, "ctc_head", None)
            if head is not None and head.out_features != source.vocab_size:
                raise SystemExit(
                    f"--lang-dir {lang_dir}: tokenizer/ has {source.vocab_size} tokens, the "
                    f"model's CTC head {head.out_features}: decode with the lang dir the model "
                    "was trained with"
                )
        return {
            "model": model,
            "source_tokenizer": source,
            "sources": dict(refs.sources) if refs is not None else {},
            "tokenizer": tokenizer,
            "tgt_langs": tgt_langs,
            "tgt_lang": default,
            "languages": languages,
        }


# ------------------------------------------------------------------------------ methods


def _check(utts: Mapping[str, dict], options) -> None:
    """Every utterance has a target language the target tokenizer knows: its own (an
    st_pairs cut) or ``--tgt-lang``; SystemExit naming the option otherwise."""
    refs, default = ST._references, options[TargetLangConfig].tgt_lang
    if refs is None:
        return
    untagged = [u for u in utts if u not in refs.tgt_langs]
    refs.untagged = len(untagged)
    if untagged and not default:
        raise SystemExit(
            f"--tgt-lang: {len(untagged)} of {len(utts)} utterances name no target language "
            f"(first {untagged[:3]}; st_pairs cuts carry supervision custom tgt_lang); give "
            f"--tgt-lang, one of {refs.tokenizer.languages}"
        )
    if refs.tokenizer.languages is not None:  # else prepare checks the model's vocabulary
        _check_languages(refs.tgt_langs.values(), default, refs.tokenizer)


def _check_languages(tgt_langs, default: str, tokenizer) -> None:
    unknown = sorted(set(tgt_langs) | ({default} if default else set()))
    unknown = [x for x in unknown if x not in tokenizer.languages]
    if unknown:
        raise SystemExit(
            f"target languages {unknown} (--cuts / --tgt-lang) have no tag in "
            f"{tokenizer.directory}; known: {tokenizer.languages}"
        )


def _languages_of(ctx, n: int, cut_ids: Optional[List[str]]) -> List[str]:
    """The target language of each utterance of a batch: its own (an st_pairs cut), else
    ``--tgt-lang``; without cut ids (scripts) the one language decoding knows."""
    default = ctx["tgt_lang"]
    if cut_ids is None:
        if len(ctx["languages"]) != 1:
            raise ValueError(
                "st: no target language to decode into: decode st_pairs cuts (they name "
                f"theirs) or set tgt_lang (--tgt-lang); known here: {ctx['languages']}"
            )
        return [ctx["languages"][0]] * n
    langs = [ctx["tgt_langs"].get(c, default) for c in cut_ids]
    missing = [c for c, x in zip(cut_ids, langs) if not x]
    if missing:
        raise ValueError(f"st: cuts {missing[:3]} name no target language and --tgt-lang is unset")
    return langs


def _translate(ctx, memory, lengths, options, method: str, cut_ids) -> List[str]:
    """The hypothesis of each utterance of a batch in its own target language: the search
    runs once per language of the batch, on that language's rows, with the prefix
    ``</s> <tag>``."""
    from xlsr.data.translation import EOS_ID
    from xlsr.decode import st_search

    output, memory = memory, _memory(memory)
    tok, cfg = ctx["tokenizer"], options[SearchConfig]
    weight = options[CtcRescoreConfig].ctc_weight if CtcRescoreConfig in options else 0.0
    langs = _languages_of(ctx, memory.shape[0], cut_ids)
    out: List[str] = [""] * len(langs)
    for lang in sorted(set(langs)):
        rows = [i for i, x in enumerate(langs) if x == lang]
        index = torch.tensor(rows, device=memory.device)
        mem, lens = memory.index_select(0, index), lengths.index_select(0, index.to(lengths.device))
        prefix = torch.tensor([[EOS_ID, tok.tag_id(lang)]], device=memory.device)
        prefix = prefix.expand(len(rows), 2)
        if method == "greedy_search":
            seqs = st_search.greedy_search(ctx["model"], mem, lens, prefix, cfg)
        elif weight > 0:  # joint CTC/attention scores of every beam hypothesis
            nbests = st_search.beam_search(
                ctx["model"], mem, lens, prefix, dataclasses.replace(cfg, nbest=cfg.beam)
            )
            frames = output.ctc_frames.tolist()
            seqs = [
                st_search.joint_ctc_rescore(
                    nbest, output.ctc_log_probs[i], frames[i], weight, cfg.len_penalty
                )[0][0]
                for i, nbest in zip(rows, nbests)
            ]
        else:
            nbests = st_search.beam_search(ctx["model"], mem, lens, prefix, cfg)
            seqs = [nbest[0][0] for nbest in nbests]
        for i, seq in zip(rows, seqs):
            out[i] = tok.decode(seq)
    return out


def _runner(method: str):
    def run(ctx, memory, lengths, options, cut_ids=None) -> Dict[str, List[str]]:
        return {method: _translate(ctx, memory, lengths, options, method, cut_ids)}

    return run


def _score(ctx, out_dir, test_set: str, items, options, **kwargs) -> dict:
    """Translation result files: each item's hypothesis with ``src_lang`` (the
    supervision's language) and ``tgt_lang``."""
    from xlsr.scoring.translation import write_translation_results

    rows = []
    for item in items:
        row = dict(item)
        row["tgt_lang"] = ctx["tgt_langs"].get(row["id"], ctx["tgt_lang"])
        row["src_lang"] = row.get("lang")
        rows.append(row)
    return write_translation_results(
        out_dir,
        test_set,
        rows,
        kwargs.get("skipped_rule", "deleted"),
        kwargs.get("info"),
        extra_fields=kwargs.get("extra_fields", ()),
    )


CTC_METHOD = "ctc_greedy_search"


def _ctc_greedy(ctx, output, frames, options) -> Dict[str, List[str]]:
    """The CTC head's greedy transcript of each utterance (ASR from the same encoder)."""
    from xlsr.decode import ctc as D

    if not isinstance(output, StBatch) or output.ctc_log_probs is None:
        raise ValueError(f"{CTC_METHOD}: run the model through StTask.decoding_model")
    tok = ctx["source_tokenizer"]
    seqs = D.greedy_search(output.ctc_log_probs, output.ctc_frames)
    return {CTC_METHOD: [tok.decode(s) for s in seqs]}


def _score_asr(ctx, out_dir, test_set: str, items, options, **kwargs) -> dict:
    """WER (and CER) of the CTC head against the source transcripts, each source utterance
    once (the pairs of one English utterance into nine languages share its audio)."""
    from xlsr.scoring.results import write_results

    rows, seen = [], set()
    for item in items:
        origin, source = ctx["sources"].get(item["id"], (item["id"], None))
        if origin in seen:
            continue
        seen.add(origin)
        if source is None:
            raise ValueError(f"{CTC_METHOD}: no source transcript for {item['id']}")
        rows.append({**item, "id": origin, "ref": source, "src_lang": item.get("lang")})
    kwargs = {k: v for k, v in kwargs.items() if k in ("extra_fields", "skipped_rule", "info")}
    if len(rows) < len(items):
        logger.info(
            "%s: WER over %d source utterances (%d pairs share their audio)",
            CTC_METHOD,
            len(rows),
            len(items),
        )
    return write_results(out_dir, test_set, rows, cer=True, **kwargs)


def _method(name: str) -> Method:
    configs: Tuple[type, ...] = (SearchConfig, TargetLangConfig)
    if name == "beam_search":
        configs += (CtcRescoreConfig,)
    return Method(
        _runner(name), configs, score=_score, metric="bleu_loss", check=_check, cut_ids=True
    )


StTask.methods = {name: _method(name) for name in ("greedy_search", "beam_search")}
StTask.methods[CTC_METHOD] = Method(_ctc_greedy, score=_score_asr, metric="wer")
ST = StTask()

register(ST)
