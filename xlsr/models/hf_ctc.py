"""Existing fine-tuned models: a Hugging Face ``Wav2Vec2ForCTC`` directory as a CtcModel.

HF character models put the CTC blank at ``pad_token_id`` (``<pad>``) and separate words
with ``|``. We reorder the output layer so the blank is token 0 (our convention, and what
k2's CTC topology expects) and keep the other tokens in HF's id order after it (:class:`HfVocab`;
its base :class:`CtcVocab` also serves fairseq letter dictionaries). For lattice
decoding, :func:`prepare_hf_lang_dir` builds a lang dir over this token set: each word is
spelled with its characters, and ``|`` is an optional token between words (a self-loop of
L), so ``HLG`` from a word LM decodes the model's output.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

import torch

from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.models.fairseq_hf import CheckpointError, load_encoder, read_hf_weights

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]


class CtcVocab:
    """The tokens of a character CTC model in our id order (0 = the blank), and their text.

    Args:
        tokens: token strings by id; ``tokens[0]`` is the blank.
        word_delimiter: the token that separates words (``|`` in fairseq and HF letter
            vocabularies).

    Attributes:
        specials: ``<...>`` tokens (``<s>``, ``<pad>``, ``<unk>`` ...), left out of the text.
    """

    def __init__(self, tokens: Sequence[str], word_delimiter: str = "|") -> None:
        self.tokens = list(tokens)
        self.word_delimiter = word_delimiter
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        self.specials = {t for t in self.tokens if t.startswith("<") and t.endswith(">")}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def decode(self, ids: Sequence[int]) -> str:
        chars = [self.tokens[i] for i in ids if i > 0 and self.tokens[i] not in self.specials]
        return " ".join("".join(chars).replace(self.word_delimiter, " ").split())

    def uppercase(self) -> bool:
        """True when the vocabulary's letters are upper case (e.g. English LibriSpeech models)."""
        letters = [t for t in self.tokens if len(t) == 1 and t.isalpha()]
        return sum(t.isupper() for t in letters) > len(letters) / 2


class HfVocab(CtcVocab):
    """The token set of a Wav2Vec2ForCTC directory, blank first.

    Attributes:
        tokens: token strings in our id order (0 = the blank, HF's pad token).
        hf_ids: HF id of each of our ids (the permutation applied to ``lm_head``).
    """

    def __init__(self, path: Pathlike) -> None:
        path = Path(path)
        vocab_file = path / "vocab.json"
        if not vocab_file.exists():
            raise CheckpointError(path, "no vocab.json (needed to decode a Wav2Vec2ForCTC)")
        vocab: Dict[str, int] = json.loads(vocab_file.read_text(encoding="utf-8"))
        if vocab and isinstance(next(iter(vocab.values())), dict):  # multilingual vocab files
            raise CheckpointError(vocab_file, "per-language vocab.json is not supported")
        cfg = json.loads((path / "config.json").read_text())
        tok_cfg_file = path / "tokenizer_config.json"
        tok_cfg = json.loads(tok_cfg_file.read_text()) if tok_cfg_file.exists() else {}
        self.blank_hf = int(cfg.get("pad_token_id", vocab.get("<pad>", 0)))
        by_id = sorted(vocab.items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise CheckpointError(vocab_file, "token ids are not 0..N-1")
        self.hf_ids = [self.blank_hf] + [i for _, i in by_id if i != self.blank_hf]
        tokens = [by_id[i][0] for i in self.hf_ids]
        super().__init__(tokens, tok_cfg.get("word_delimiter_token", "|"))


def load_hf_ctc(path: Pathlike) -> Tuple[CtcModel, HfVocab]:
    """A Wav2Vec2ForCTC directory as our CtcModel (eval mode) and its vocabulary."""
    path = Path(path)
    encoder = load_encoder(path)
    if encoder.load_report.architecture != "Wav2Vec2ForCTC":
        raise CheckpointError(path, f"{encoder.load_report.architecture} has no CTC head")
    vocab = HfVocab(path)
    state = read_hf_weights(path)
    weight, bias = state.get("lm_head.weight"), state.get("lm_head.bias")
    if weight is None or bias is None:
        raise CheckpointError(path, "lm_head.weight / lm_head.bias missing")
    if weight.shape[0] != vocab.vocab_size:
        raise CheckpointError(
            path, f"lm_head has {weight.shape[0]} outputs, vocab.json {vocab.vocab_size} tokens"
        )
    model = CtcModel(encoder, CtcConfig(vocab_size=vocab.vocab_size, loss="torch"))
    perm = torch.tensor(vocab.hf_ids)
    with torch.no_grad():
        model.output.weight.copy_(weight[perm].float())
        model.output.bias.copy_(bias[perm].float())
    return model.eval(), vocab


def prepare_hf_lang_dir(lang_dir: Pathlike, vocab: HfVocab, words: Iterable[str]) -> Dict[str, int]:
    """tokens.txt / words.txt / lexicon(_disambig).txt / lang.json for an HF character model.

    Words with a character outside the vocabulary are left out (counted and logged); the
    case of the words follows the vocabulary's.
    """
    from xlsr.graph.lexicon import UNK, write_lang_dir

    lang_dir = Path(lang_dir)
    upper = vocab.uppercase()
    lexicon, skipped = [], 0
    unk_token = next((t for t in vocab.tokens if t.lower() in ("<unk>", "[unk]")), None)
    if unk_token:
        lexicon.append((UNK, [unk_token]))
    for word in sorted(set(words)):
        spelled = list(word.upper() if upper else word)
        if all(c in vocab.token_to_id for c in spelled):
            lexicon.append((word, spelled))
        else:
            skipped += 1
    if skipped:
        logger.warning("%d words use characters outside the model's vocabulary: left out", skipped)
    counts = write_lang_dir(lang_dir, lexicon, vocab.tokens)
    (lang_dir / "lang.json").write_text(json.dumps({"optional_tokens": [vocab.word_delimiter]}))
    return {**counts, "skipped": skipped}


def hf_words(texts: Iterable[str]) -> List[str]:
    return sorted({w for t in texts for w in t.split()})
