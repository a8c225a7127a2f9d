"""The mBART-50 target vocabulary of an existing ST model, with the interface of
:class:`xlsr.data.translation.TargetTokenizer` that the ``st`` task decodes with.

Two sources, one id layout (fairseq's dictionary order):

    source                          ids
    Hugging Face tokenizer dir      0 ``<s>``, 1 ``<pad>``, 2 ``</s>``, 3 ``<unk>``; sentencepiece
    (``MBart50Tokenizer``:          piece i -> i + 1 for i >= 3 (the model's own ``<unk>``,
    ``sentencepiece.bpe.model``)    ``<s>``, ``</s>`` at 0, 1, 2 are the specials above); then
                                    the 52 mBART-50 codes (``ar_AR`` ... ``sl_SI``, in
                                    :data:`MBART50_LANGUAGE_CODES` order); then ``<mask>``
    fairseq dictionary (``dict.txt`` 0-3 the specials as above; then the file's pieces in
    lines ``piece count``) + the     order. Language tags are pieces of the dictionary:
    sentencepiece model              ``<lang:X>`` (speech_to_text's ``prepend_tgt_lang_tag``),
                                    ``__X__`` (multilingual) or ``[X]`` (mBART), X an mBART-50
                                    code or a short code; a dictionary without tags whose
                                    model has 53 more embeddings gets mBART-50's ``[X]`` tags
                                    and ``<mask>`` appended (the mBART-50 fine-tuning layout)

These are transformers' ``MBart50Tokenizer`` (``fairseq_offset`` 1, the language codes and
``<mask>`` after the sentencepiece pieces) and fairseq's ``Dictionary.load`` /
``SpeechToTextDataset.LANG_TAG_TEMPLATE`` / ``multilingual_utils.get_lang_tok``. Text is split
into pieces by the sentencepiece model and each piece looked up (``<unk>`` when absent);
decoding drops the specials, tags and ``<mask>`` and joins the pieces as the model's own
toolkit does: ``▁`` becomes a space and the first piece's leading one is dropped (HF's
``Metaspace`` decoder), or the text is stripped (fairseq's ``SentencepieceBPE.decode``).
Languages are our short codes (``de``): the mBART-50 code of a language of
:data:`xlsr.data.translation.MBART50_CODES` maps back to it, any other code to its part
before ``_``.

    vocab = hf_vocabulary("facebook-wav2vec2-xls-r-300m-en-to-15")
    vocab.encode("Hallo Welt", "de")   # [tag_id("de"), pieces..., EOS_ID]
    vocab.decode(ids)                  # "Hallo Welt"
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from xlsr.data.translation import EOS_ID, MBART50_CODES, SPECIALS, UNK_ID, TaggedVocabulary

Pathlike = Union[str, Path]

#: transformers' ``models/mbart50/tokenization_mbart50.py`` ``FAIRSEQ_LANGUAGE_CODES`` (ids in
#: this order after the sentencepiece pieces); a test checks it against that list.
MBART50_LANGUAGE_CODES = (
    "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN",
    "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO",
    "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN", "af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL",
    "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL", "ps_AF",
    "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK", "xh_ZA",
    "gl_ES", "sl_SI",
)  # fmt: skip
MASK = "<mask>"
SPACE = "\u2581"  # sentencepiece's word boundary
HF_SPM_FILE = "sentencepiece.bpe.model"
HF_CONFIG_FILE = "tokenizer_config.json"
HF_CLASSES = ("MBart50Tokenizer", "MBart50TokenizerFast")
#: fairseq's language tag spellings: speech_to_text, multilingual ("__X__"), mbart ("[X]")
TAG_PATTERNS = (r"<lang:(.+)>", r"__(.+)__", r"\[(.+)\]")


def short_code(code: str) -> Optional[str]:
    """Our language code of a tag's language (``de_DE`` -> ``de``, ``de`` -> ``de``), None
    for anything else (``__main__`` is no language)."""
    ours = {v: k for k, v in MBART50_CODES.items()}
    if code in ours:
        return ours[code]
    if code in MBART50_LANGUAGE_CODES:
        return code.split("_")[0]
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def tag_language(piece: str) -> Optional[str]:
    """Our language code of a fairseq language tag piece (``<lang:de_DE>``, ``__de__``,
    ``[de_DE]``), None for any other piece."""
    for pattern in TAG_PATTERNS:
        found = re.fullmatch(pattern, piece)
        if found:
            return short_code(found.group(1))
    return None


def _whitespace(text: str) -> str:
    return " ".join(text.split())


class MBartVocabulary(TaggedVocabulary):
    """ids <-> text of an mBART-50 target vocabulary (see the module docstring).

    Args:
        pieces: the piece of each id (``pieces[0:4]`` are ``SPECIALS``).
        tags: our language code -> the id of its tag.
        spm_model: the sentencepiece model that splits text into pieces.
        directory: where the vocabulary comes from (for messages).
        normalizer: text -> normalised text (``normalize``; default: whitespace folded).
        files: the files read (for score files).
        style: how pieces join into text: "hf" (transformers' Metaspace decoder: the first
            piece's leading ``▁`` dropped) or "fairseq" (the text stripped).
    """

    bos_id, pad_id, eos_id, unk_id = 0, 1, EOS_ID, UNK_ID

    def __init__(
        self,
        pieces: Sequence[str],
        tags: Mapping[str, int],
        spm_model: Pathlike,
        directory: Pathlike,
        normalizer: Optional[Callable[[str], str]] = None,
        files: Sequence[Pathlike] = (),
        style: str = "hf",
    ) -> None:
        import sentencepiece as spm

        if style not in ("hf", "fairseq"):
            raise ValueError(f"style must be 'hf' or 'fairseq', got {style!r}")

        if tuple(pieces[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"{directory}: ids 0-3 must be {SPECIALS}, got {list(pieces[:4])}")
        self.pieces = list(pieces)
        self.ids = {p: i for i, p in enumerate(self.pieces)}  # a repeated piece: its last id
        self.tags = dict(tags)
        self.spm_model = Path(spm_model)
        self.directory = Path(directory)
        self.normalizer = normalizer or _whitespace
        self.files = [Path(f) for f in files]
        self.style = style
        self.sp = spm.SentencePieceProcessor(model_file=str(self.spm_model))
        self._tag_ids = self.tags  # TaggedVocabulary's lookups
        self._lang_of = {idx: lang for lang, idx in self.tags.items()}
        self._dropped = set(range(len(SPECIALS))) | set(self._lang_of)
        self._dropped |= {i for i, p in enumerate(self.pieces) if p == MASK}

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("sp")
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        import sentencepiece as spm

        self.__dict__.update(state)
        self.sp = spm.SentencePieceProcessor(model_file=str(self.spm_model))

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def encode(self, text: str, tgt_lang: str) -> List[int]:
        """``[tag(tgt_lang), pieces..., </s>]`` of ``text`` as given (pieces the vocabulary
        lacks become ``<unk>``)."""
        tag = self.tag_id(tgt_lang)
        ids = [self.ids.get(p, UNK_ID) for p in self.sp.encode(text, out_type=str)]
        return [tag] + [UNK_ID if i in self._dropped else i for i in ids] + [EOS_ID]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` without specials, tags and ``<mask>``."""
        n = len(self.pieces)
        kept = [self.pieces[i] for i in map(int, ids) if 0 <= i < n and i not in self._dropped]
        text = "".join(kept).replace(SPACE, " ")
        if self.style == "fairseq":
            return text.strip()
        return text[1:] if kept and kept[0].startswith(SPACE) else text


# --------------------------------------------------------------------------- Hugging Face


def hf_vocabulary(
    directory: Pathlike, normalizer: Optional[Callable[[str], str]] = None
) -> MBartVocabulary:
    """The vocabulary of a Hugging Face ``MBart50Tokenizer`` dir (``sentencepiece.bpe.model``;
    ``tokenizer_config.json``, where present, must name that class).

    Raises:
        FileNotFoundError: without ``sentencepiece.bpe.model``.
        ValueError: another tokenizer class, a sentencepiece model whose ids 0-2 are not
            ``<unk> <s> </s>``.
    """
    import sentencepiece as spm

    directory = Path(directory)
    model_file, config_file = directory / HF_SPM_FILE, directory / HF_CONFIG_FILE
    if config_file.is_file():
        named = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
        if named and named not in HF_CLASSES:
            raise ValueError(
                f"{config_file}: tokenizer_class {named!r}; only {' / '.join(HF_CLASSES)} "
                "(mBART-50) vocabularies are supported"
            )
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file}: no such file (the MBart50Tokenizer's model)")
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    first = [sp.id_to_piece(i) for i in range(min(3, sp.get_piece_size()))]
    if (sp.unk_id(), sp.bos_id(), sp.eos_id()) != (0, 1, 2):
        raise ValueError(
            f"{model_file}: ids 0-2 are {first}, not <unk> <s> </s> (mBART-50's sentencepiece "
            "layout, which MBart50Tokenizer's id offset assumes)"
        )
    pieces = [*SPECIALS, *(sp.id_to_piece(i) for i in range(3, sp.get_piece_size()))]
    tags = {short_code(c): len(pieces) + k for k, c in enumerate(MBART50_LANGUAGE_CODES)}
    pieces += [*MBART50_LANGUAGE_CODES, MASK]
    files = [model_file] + ([config_file] if config_file.is_file() else [])
    return MBartVocabulary(pieces, tags, model_file, directory, normalizer, files)


# ------------------------------------------------------------------------------ fairseq


def read_fairseq_dict(path: Pathlike) -> List[str]:
    """The pieces of a fairseq dictionary file (``piece count`` lines, optionally followed
    by ``#fairseq:overwrite``), after fairseq's four specials: the ids' pieces."""
    path = Path(path)
    pieces = list(SPECIALS)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        piece, _, count = line.rstrip().rpartition(" ")
        if count == "#fairseq:overwrite":
            piece, _, count = piece.rpartition(" ")
        if not piece or not count.lstrip("-").isdigit():
            raise ValueError(f"{path}:{n}: expected 'piece count', got {line!r}")
        pieces.append(piece)
    return pieces


def fairseq_vocabulary(
    dictionary: Pathlike,
    spm_model: Pathlike,
    normalizer: Optional[Callable[[str], str]] = None,
    vocab_size: Optional[int] = None,
) -> MBartVocabulary:
    """The vocabulary of a fairseq target dictionary and its sentencepiece model.

    Args:
        dictionary: ``dict.txt`` (or the data config's ``vocab_filename``).
        spm_model: the sentencepiece model of the data config's ``bpe_tokenizer``.
        normalizer: see :class:`MBartVocabulary`.
        vocab_size: the model's; a dictionary without language tags and 53 pieces short of
            it gets the mBART-50 tags ``[xx_XX]`` and ``<mask>`` appended.

    Raises:
        ValueError: a dictionary without language tags (and not 53 short of ``vocab_size``).
    """
    dictionary = Path(dictionary)
    pieces = read_fairseq_dict(dictionary)
    tags = {}
    for i, piece in enumerate(pieces):
        lang = tag_language(piece)
        if lang is not None:
            tags[lang] = i
    appended = len(MBART50_LANGUAGE_CODES) + 1
    if not tags and vocab_size == len(pieces) + appended:
        tags = {short_code(c): len(pieces) + k for k, c in enumerate(MBART50_LANGUAGE_CODES)}
        pieces += [*(f"[{c}]" for c in MBART50_LANGUAGE_CODES), MASK]
    if not tags:
        raise ValueError(
            f"{dictionary}: no language tags (<lang:xx_XX>, __xx_XX__ or [xx_XX] pieces) and "
            f"not {appended} pieces short of the model's vocabulary (mBART-50's tags and "
            f"<mask> appended): {len(pieces)} ids, the model has {vocab_size}"
        )
    files = [dictionary, spm_model]
    return MBartVocabulary(pieces, tags, spm_model, dictionary.parent, normalizer, files, "fairseq")
