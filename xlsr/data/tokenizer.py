"""Tokenizers: sentencepiece BPE / unigram / characters, multilingual or one model per language.

Token ids follow icefall's convention: 0 ``<blk>`` (the CTC blank), 1 ``<sos/eos>``,
2 ``<unk>``, then the pieces. With ``per_language`` one sentencepiece model is trained per
language and the token table is the union of their pieces, so one output layer serves all.

A tokenizer directory holds ``tokenizer.json`` (kind and languages), the ``.model`` files
and ``tokens.txt``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
SPECIALS = ["<blk>", "<sos/eos>", "<unk>"]


@dataclass
class TokenizerConfig:
    model_type: str = "unigram"  # sentencepiece model: "unigram", "bpe" or "char"
    vocab_size: int = 500  # per model; ignored for "char"
    per_language: bool = False  # one model per language, token table = union of pieces
    character_coverage: float = 1.0


class Tokenizer:
    """Text <-> token ids through one or several sentencepiece models."""

    def __init__(self, directory: Pathlike) -> None:
        import sentencepiece as spm

        self.directory = Path(directory)
        meta_path = self.directory / "tokenizer.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path}: not a tokenizer directory (train one first)")
        meta = json.loads(meta_path.read_text())
        self.config = TokenizerConfig(**meta["config"])
        self.models: Dict[str, spm.SentencePieceProcessor] = {}
        for key, name in meta["models"].items():
            self.models[key] = spm.SentencePieceProcessor(model_file=str(self.directory / name))
        self.tokens = read_symbols(self.directory / "tokens.txt")
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        self.blank_id, self.sos_eos_id, self.unk_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def _model(self, lang: Optional[str]):
        if not self.config.per_language:
            return self.models["all"]
        if lang not in self.models:
            raise ValueError(f"no tokenizer model for language {lang!r} in {self.directory}")
        return self.models[lang]

    def pieces(self, text: str, lang: Optional[str] = None) -> List[str]:
        return self._model(lang).encode(text, out_type=str)

    def encode(self, text: str, lang: Optional[str] = None) -> List[int]:
        """Token ids of ``text``; unknown symbols become ``<unk>`` (see :meth:`encode_checked`)."""
        return self.encode_checked(text, lang)[0]

    def encode_checked(self, text: str, lang: Optional[str] = None) -> Tuple[List[int], List[str]]:
        """Token ids of ``text`` and the symbols that became ``<unk>``.

        A symbol is unknown when the tokenizer has no piece for it (characters outside its
        training alphabet: another script, emoji, upper case after lower-case training). A
        special symbol written in the text (``<blk>``, ``<sos/eos>``) is never encoded as
        that special (the CTC blank must not enter the targets): it is unknown too.

        Returns:
            (ids, unknown): ids as ``encode``; the unknown pieces in order, "\u2581" removed.
        """
        ids, unknown = [], []
        for piece in self.pieces(text, lang):
            idx = self.token_to_id.get(piece, self.unk_id)
            if idx <= self.unk_id:  # <blk>, <sos/eos> or <unk>
                idx = self.unk_id
                unknown.append(piece.replace("\u2581", "") or piece)
            ids.append(idx)
        return ids, unknown

    def decode(self, ids: Sequence[int]) -> str:
        pieces = [self.tokens[i] for i in ids if i > 2]
        return "".join(pieces).replace("\u2581", " ").strip()


def read_symbols(path: Pathlike) -> List[str]:
    """Reads a ``symbol id`` table whose ids are 0..N-1 in order."""
    symbols = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        sym, idx = line.split()
        if int(idx) != n:
            raise ValueError(f"{path}:{n + 1}: expected id {n}, found {idx}")
        symbols.append(sym)
    return symbols


def write_symbols(symbols: Sequence[str], path: Pathlike) -> None:
    Path(path).write_text("".join(f"{s} {i}\n" for i, s in enumerate(symbols)), encoding="utf-8")


def _train_one(texts: Iterable[str], prefix: Path, cfg: TokenizerConfig) -> None:
    import sentencepiece as spm

    lines = [t for t in texts if t.strip()]
    if not lines:
        raise ValueError(f"no training text for tokenizer {prefix.name}")
    kwargs = dict(
        sentence_iterator=iter(lines),
        model_prefix=str(prefix),
        model_type=cfg.model_type,
        character_coverage=cfg.character_coverage,
        user_defined_symbols=SPECIALS[:2],
        unk_id=2,
        bos_id=-1,
        eos_id=-1,
        input_sentence_size=10_000_000,
        minloglevel=2,
        num_threads=1,  # deterministic
    )
    if cfg.model_type != "char":
        chars = len({c for t in lines for c in t.replace(" ", "")})
        kwargs["vocab_size"] = cfg.vocab_size
        kwargs["hard_vocab_limit"] = False  # small corpora may not reach vocab_size
        if cfg.vocab_size <= chars + 4:
            raise ValueError(
                f"vocab_size {cfg.vocab_size} is too small for {chars} characters in {prefix.name}"
            )
    spm.SentencePieceTrainer.train(**kwargs)


def train_tokenizer(
    texts: Dict[str, List[str]], out_dir: Pathlike, cfg: Optional[TokenizerConfig] = None
) -> Tokenizer:
    """Trains sentencepiece on ``texts`` ({language: transcripts}) and writes ``out_dir``."""
    import sentencepiece as spm

    cfg = cfg or TokenizerConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {}
    if cfg.per_language:
        for lang in sorted(texts):
            _train_one(texts[lang], out_dir / f"{lang}", cfg)
            models[lang] = f"{lang}.model"
    else:
        _train_one([t for lang in sorted(texts) for t in texts[lang]], out_dir / "all", cfg)
        models["all"] = "all.model"
    tokens = list(SPECIALS)
    seen = set(tokens)
    for name in models.values():
        sp = spm.SentencePieceProcessor(model_file=str(out_dir / name))
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in seen:
                seen.add(piece)
                tokens.append(piece)
    write_symbols(tokens, out_dir / "tokens.txt")
    meta = {"config": asdict(cfg), "models": models}
    (out_dir / "tokenizer.json").write_text(json.dumps(meta, indent=2))
    logger.info("tokenizer %s: %d tokens from %d model(s)", out_dir, len(tokens), len(models))
    return Tokenizer(out_dir)
