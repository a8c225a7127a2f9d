"""Speech translation targets: a target tokenizer with language tags, and ST pairs of cuts.

The target side follows mBART-50 as fairseq's ``xm_transformer`` and Hugging Face's
``SpeechEncoderDecoderModel`` fine-tune it: the target language is a prefix token, the
target is ``<lang> tokens </s>`` and the decoder input is that shifted right with eos first,
``</s> <lang> tokens`` (HF: ``decoder_start_token_id`` = eos, ``forced_bos_token_id`` = the
language code).

Token ids (fairseq's dictionary order, so the decoder's pad and eos match mBART's):

    ====  ==========  =================================================
    id    piece       use
    ====  ==========  =================================================
    0     ``<s>``     unused (fairseq's bos; kept so ids match)
    1     ``<pad>``   padding of target batches (``PAD_ID``)
    2     ``</s>``    end of target, first decoder input (``EOS_ID``)
    3     ``<unk>``   symbols the model does not know (``UNK_ID``)
    4...  tags        one piece per target language (``de_DE``...), sorted by language
    then  pieces      the sentencepiece vocabulary
    ====  ==========  =================================================

A tag is a sentencepiece user-defined symbol: it is always one piece and never split; a
tag written in a text (the default normalisation removes the ``_``) becomes ``<unk>``, so only
:meth:`TargetTokenizer.encode` puts tags in a target.

A target tokenizer directory (``<lang_dir>/target_tokenizer/``) holds ``target.model`` (and
sentencepiece's ``target.vocab``) and ``target_tokenizer.json`` (config, tag table, text
normaliser): texts are normalised by the tokenizer itself, so targets, references and
hypotheses are spelt alike.

    tok = train_target_tokenizer({"en": [...], "de": [...]}, lang_dir / "target_tokenizer")
    ids = tok.encode("twenty one", "de")   # [tag_id("de"), ..., EOS_ID]
    tok.decoder_input(ids)                  # [EOS_ID, tag_id("de"), ...]
    tok.decode(ids)                         # "twenty one"
    pairs = st_pairs(cuts, "all")           # one cut per (utterance, target language)
    train_target_tokenizer(target_texts(pairs), lang_dir / DIR_NAME)
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from xlsr.data.targets import CutTargets
from xlsr.data.text_norm import TextNormalizer, TextNormConfig
from xlsr.data.tokenizer import Tokenizer

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]

#: language -> mBART-50 language code, from transformers' ``models/mbart50/
#: tokenization_mbart50.py`` (``FAIRSEQ_LANGUAGE_CODES``); a test checks it against that.
MBART50_CODES: Dict[str, str] = {
    "cs": "cs_CZ",
    "de": "de_DE",
    "en": "en_XX",
    "es": "es_XX",
    "fr": "fr_XX",
    "it": "it_IT",
    "nl": "nl_XX",
    "pl": "pl_PL",
    "pt": "pt_XX",
    "ru": "ru_RU",
}
#: Target tags of the CoVoST 2 languages beyond MBART50_CODES (Common Voice codes, so
#: ``sv-SE``, ``zh-CN``): mBART-50 codes where mBART-50 has the language, and ``<lang>_XX``
#: (its pattern for a language without region) for Catalan and Welsh, which it lacks (a
#: real mBART-50 decoder has no embedding for those two).
CORPUS_TAGS: Dict[str, str] = {
    "ar": "ar_AR",
    "ca": "ca_XX",
    "cy": "cy_XX",
    "et": "et_EE",
    "fa": "fa_IR",
    "id": "id_ID",
    "ja": "ja_XX",
    "lv": "lv_LV",
    "mn": "mn_MN",
    "sl": "sl_SI",
    "sv-SE": "sv_SE",
    "ta": "ta_IN",
    "tr": "tr_TR",
    "zh-CN": "zh_CN",
}
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
DIR_NAME = "target_tokenizer"  # in a lang dir
META_FILE = "target_tokenizer.json"
MODEL_FILE = "target.model"
DIRECTIONS = ("x-en", "en-x", "all")


@dataclass
class TargetTokenizerConfig:
    model_type: str = "unigram"  # sentencepiece model: "unigram" or "bpe"
    vocab_size: int = 500  # pieces with specials and tags; a small corpus may stop short
    character_coverage: float = 1.0  # sentencepiece's; 1.0 keeps every character


def language_tag(lang: str) -> str:
    """The target tag of ``lang``: its mBART-50 code (``"de" -> "de_DE"``), or its
    :data:`CORPUS_TAGS` one (``"zh-CN" -> "zh_CN"``, ``"ca" -> "ca_XX"``)."""
    code = MBART50_CODES.get(lang) or CORPUS_TAGS.get(lang)
    if code is None:
        known = sorted({**MBART50_CODES, **CORPUS_TAGS})
        raise ValueError(f"no target language tag for {lang!r}; known: {known}")
    return code


class TaggedVocabulary:
    """The language-tag lookups of a target vocabulary (ours, or an mBART-50 one), from
    ``self._tag_ids`` (language -> tag id), ``self._lang_of`` (its inverse),
    ``self.directory`` and ``self.normalizer``."""

    _tag_ids: Dict[str, int]
    _lang_of: Dict[int, str]
    directory: Path

    @property
    def languages(self) -> List[str]:
        return sorted(self._tag_ids)

    def tag_id(self, lang: str) -> int:
        """Id of the target-language tag of ``lang``; a regional code (Common Voice's
        ``zh-CN``, ``sv-SE``) takes its language's tag in a vocabulary that names languages
        without region (an mBART-50 vocabulary reads ``zh_CN`` as ``zh``)."""
        base = lang.split("-")[0]
        if lang not in self._tag_ids and base != lang and base in self._tag_ids:
            return self._tag_ids[base]
        if lang not in self._tag_ids:
            raise ValueError(
                f"target language {lang!r} has no tag in {self.directory}; known: {self.languages}"
            )
        return self._tag_ids[lang]

    def lang_of(self, idx: int) -> Optional[str]:
        """The language whose tag is ``idx``, else None."""
        return self._lang_of.get(idx)

    def normalize(self, text: str) -> str:
        """The vocabulary's text normalisation (apply to references before scoring)."""
        return self.normalizer(text)


class TargetTokenizer(TaggedVocabulary):
    """Target text <-> ids ``<lang> tokens </s>`` through one sentencepiece model.

    Args:
        directory: a target tokenizer directory (see :func:`train_target_tokenizer`).
    """

    bos_id, pad_id, eos_id, unk_id = BOS_ID, PAD_ID, EOS_ID, UNK_ID

    def __init__(self, directory: Pathlike) -> None:
        import sentencepiece as spm

        self.directory = Path(directory)
        meta_path = self.directory / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path}: not a target tokenizer directory (train one)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.config = TargetTokenizerConfig(**meta["config"])
        self.normalizer = TextNormalizer(TextNormConfig(**meta["text_norm"]))
        self.sp = spm.SentencePieceProcessor(model_file=str(self.directory / MODEL_FILE))
        self.tags: Dict[str, str] = dict(meta["tags"])
        self._tag_ids = {lang: self.sp.piece_to_id(tag) for lang, tag in self.tags.items()}
        for lang, idx in self._tag_ids.items():
            if self.sp.id_to_piece(idx) != self.tags[lang]:  # unknown pieces map to <unk>
                raise ValueError(f"{self.directory}: tag {self.tags[lang]!r} is not in the model")
        self._lang_of = {idx: lang for lang, idx in self._tag_ids.items()}

    def __getstate__(self) -> Dict[str, Any]:
        return {"directory": str(self.directory)}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["directory"])

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode_checked(self, text: str, tgt_lang: str) -> Tuple[List[int], List[str]]:
        """``[tag, tokens..., </s>]`` of the normalised ``text`` and the symbols that became
        ``<unk>`` (characters outside the training alphabet, a tag written in the text)."""
        tag = self.tag_id(tgt_lang)
        text = self.normalize(text)
        ids, unknown = [], []
        for idx, piece in zip(self.sp.encode(text), self.sp.encode(text, out_type=str)):
            if idx == UNK_ID or idx in self._lang_of:
                idx = UNK_ID
                unknown.append(piece.replace("\u2581", "") or piece)
            ids.append(idx)
        return [tag] + ids + [EOS_ID], unknown

    def encode(self, text: str, tgt_lang: str) -> List[int]:
        """Target ids ``[tag(tgt_lang), tokens..., </s>]`` of ``text`` (normalised first)."""
        return self.encode_checked(text, tgt_lang)[0]

    def decoder_input(self, ids: Sequence[int]) -> List[int]:
        """The decoder input of target ``ids``: shifted right, eos first (``</s> <lang> ...``)."""
        ids = list(ids)
        if len(ids) < 2 or ids[0] not in self._lang_of or ids[-1] != EOS_ID:
            raise ValueError(f"not a target (tag first, </s> last): {ids[:8]}...")
        return [EOS_ID] + ids[:-1]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` without specials (``<unk>`` included) and tags."""
        return self.sp.decode([int(i) for i in ids if i > UNK_ID and i not in self._lang_of])


def train_target_tokenizer(
    texts: Dict[str, List[str]],
    out_dir: Pathlike,
    cfg: Optional[TargetTokenizerConfig] = None,
    normalizer: Optional[TextNormalizer] = None,
    languages: Optional[Sequence[str]] = None,
) -> TargetTokenizer:
    """Trains the target sentencepiece model and writes ``out_dir``.

    Args:
        texts: {target language: target texts} (normalised here with ``normalizer``).
        out_dir: the directory to write (``<lang_dir>/target_tokenizer``).
        cfg: model type and size.
        normalizer: the lang dir's normaliser (default: :class:`TextNormalizer` defaults).
        languages: target languages that get a tag (default: those of ``texts``).

    Returns:
        TargetTokenizer: read back from ``out_dir``.
    """
    import sentencepiece as spm

    cfg = cfg or TargetTokenizerConfig()
    normalizer = normalizer or TextNormalizer()
    if cfg.model_type not in ("unigram", "bpe"):
        raise ValueError(f"target model_type must be 'unigram' or 'bpe', got {cfg.model_type!r}")
    langs = sorted(set(languages or texts))
    tags = {lang: language_tag(lang) for lang in langs}
    missing = sorted(set(texts) - set(langs))
    if missing:
        raise ValueError(f"texts of {missing} but no tag for them in languages={langs}")
    lines = [t for lang in sorted(texts) for t in map(normalizer, texts[lang]) if t]
    if not lines:
        raise ValueError(f"no training text for the target tokenizer {out_dir}")
    chars = len({c for t in lines for c in t.replace(" ", "")})
    if cfg.vocab_size <= chars + len(SPECIALS) + len(tags):
        raise ValueError(
            f"vocab_size {cfg.vocab_size} is too small for {chars} characters and {len(tags)} tags"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_prefix=str(out_dir / Path(MODEL_FILE).stem),
        model_type=cfg.model_type,
        vocab_size=cfg.vocab_size,
        hard_vocab_limit=False,  # small corpora may not reach vocab_size
        character_coverage=cfg.character_coverage,
        user_defined_symbols=[tags[lang] for lang in langs],
        **{f"{name}_id": i for i, name in enumerate(("bos", "pad", "eos", "unk"))},
        **{f"{name}_piece": p for name, p in zip(("bos", "pad", "eos", "unk"), SPECIALS)},
        input_sentence_size=10_000_000,
        minloglevel=2,
        num_threads=1,  # deterministic
    )
    meta = {"config": asdict(cfg), "tags": tags, "text_norm": asdict(normalizer.cfg)}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tok = TargetTokenizer(out_dir)
    logger.info("target tokenizer %s: %d pieces, tags %s", out_dir, tok.vocab_size, tags)
    return tok


def st_pairs(
    cuts: CutSet, direction: str = "all", tgt_langs: Optional[Sequence[str]] = None
) -> CutSet:
    """One cut per (utterance, target language) of the ST ``direction``.

    "x-en": every non-English utterance to English (``custom['translation']``); "en-x": every
    English utterance to each other language of ``custom['translations']``; "all": both.
    A pair's cut and supervision ids are the original's with ``_<tgt_lang>`` appended; its
    supervisions keep ``text`` and ``language`` (the source) and get ``custom['tgt_lang']``
    and ``custom['target']``. Cuts without the target text in every supervision are skipped.

    Args:
        cuts: the manifest (the numbers corpus' supervision layout).
        direction: "x-en", "en-x" or "all".
        tgt_langs: keep only these target languages (default: all).

    Returns:
        CutSet: the pairs (eager), x-en first for each utterance, en-x by target language.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    keep = set(tgt_langs) if tgt_langs is not None else None
    out, skipped = [], 0
    for cut in cuts:
        if not cut.supervisions:
            continue
        src = cut.supervisions[0].language
        pairs = []
        if src != "en" and direction in ("x-en", "all"):
            pairs.append(("en", [(s.custom or {}).get("translation") for s in cut.supervisions]))
        if src == "en" and direction in ("en-x", "all"):
            per_sup = [(s.custom or {}).get("translations") or {} for s in cut.supervisions]
            for x in sorted(set.intersection(*(set(t) for t in per_sup)) - {"en"}):
                pairs.append((x, [t[x] for t in per_sup]))
            skipped += not pairs
        for tgt, targets in pairs:
            if keep is not None and tgt not in keep:
                continue
            if not all(targets):
                skipped += 1
                continue
            out.append(_pair_cut(cut, tgt, targets))
    if skipped:
        logger.warning("st_pairs(%s): %d cut(s) without target text skipped", direction, skipped)
    return CutSet.from_cuts(out)


def _pair_cut(cut: Cut, tgt: str, targets: List[str]) -> Cut:
    """A copy of ``cut`` whose supervisions carry ``tgt_lang`` and ``target``."""
    sups = [
        fastcopy(s, id=f"{s.id}_{tgt}", custom={**(s.custom or {}), "tgt_lang": tgt, "target": t})
        for s, t in zip(cut.supervisions, targets)
    ]
    return fastcopy(cut, id=f"{cut.id}_{tgt}", supervisions=sups)


def target_of(cut: Cut) -> Tuple[str, str]:
    """(target language, target text) of an ST pair cut made by :func:`st_pairs`."""
    customs = [s.custom or {} for s in cut.supervisions]
    if not customs or not all("target" in c and "tgt_lang" in c for c in customs):
        raise ValueError(f"cut {cut.id}: no ST target in its supervisions (make it with st_pairs)")
    return customs[0]["tgt_lang"], " ".join(c["target"].strip() for c in customs).strip()


def target_texts(pairs: CutSet) -> Dict[str, List[str]]:
    """{target language: target texts} of ST pair cuts (the target tokenizer's training text)."""
    texts: Dict[str, List[str]] = {}
    for cut in pairs:
        tgt_lang, text = target_of(cut)
        texts.setdefault(tgt_lang, []).append(text)
    return texts


class StTargets:
    """``cut -> {"targets", "decoder_input"[, "source"]}`` token ids of an ST pair cut.

    ``targets`` is ``<lang> tokens </s>``, ``decoder_input`` ``</s> <lang> tokens``, and
    ``source`` (with a source tokenizer) the ASR targets of the transcript for an auxiliary
    CTC loss. Picklable for DataLoader workers.

    Args:
        tokenizer_dir: the target tokenizer (``<lang_dir>/target_tokenizer``).
        source_tokenizer_dir: the ASR tokenizer (``<lang_dir>/tokenizer``); its lang dir
            (the parent) gives the transcripts' normaliser.
    """

    def __init__(self, tokenizer_dir: Pathlike, source_tokenizer_dir: Optional[Pathlike] = None):
        self.tokenizer = TargetTokenizer(tokenizer_dir)
        self.source: Optional[CutTargets] = None
        if source_tokenizer_dir is not None:
            src = Path(source_tokenizer_dir)
            self.source = CutTargets(Tokenizer(src), TextNormalizer.load(src.parent))

    def __call__(self, cut: Cut) -> Dict[str, List[int]]:
        tgt_lang, text = target_of(cut)
        targets = self.tokenizer.encode(text, tgt_lang)
        out = {"targets": targets, "decoder_input": self.tokenizer.decoder_input(targets)}
        if self.source is not None:
            out["source"] = self.source(cut)
        return out
