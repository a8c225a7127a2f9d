"""One text normaliser for a lang dir, applied identically wherever text meets the model.

The language side (``local/prepare_lang.py``) writes ``<lang_dir>/text_norm.json``; the
tokenizer's training text, the LM text, the training targets and the references of scoring
all go through the same :class:`TextNormalizer` read back from it, so a transcript is never
spelt one way at training and another at scoring.

    norm = TextNormalizer(TextNormConfig(lowercase=True))
    norm.save(lang_dir)
    norm = TextNormalizer.load(lang_dir)        # identity for a lang dir without the file
    norm("Twenty-One, please!")                 # -> "twenty one please"
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Union

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
FILE_NAME = "text_norm.json"


@dataclass
class TextNormConfig:
    """How transcripts are normalised (defaults match the numbers corpus's own spelling)."""

    unicode_form: str = "NFC"  # unicodedata form: "NFC", "NFKC", "NFD", "NFKD" or "" (none)
    lowercase: bool = True  # case folding (str.casefold keeps the model's tokens lower case)
    hyphen_to_space: bool = True  # "twenty-one" -> "twenty one"
    remove_punctuation: bool = True  # drop Unicode punctuation (categories P*) ...
    keep_punctuation: str = "'"  # ... except these characters (apostrophes inside words)

    def __post_init__(self) -> None:
        if self.unicode_form not in ("", "NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(
                f"text_norm unicode_form must be NFC, NFKC, NFD, NFKD or '', got {self.unicode_form!r}"
            )


class TextNormalizer:
    """``text -> normalised text``: Unicode form, case folding, punctuation, whitespace."""

    def __init__(self, cfg: TextNormConfig = None) -> None:
        self.cfg = cfg or TextNormConfig()

    def __call__(self, text: str) -> str:
        cfg = self.cfg
        if cfg.unicode_form:
            text = unicodedata.normalize(cfg.unicode_form, text)
        if cfg.lowercase:
            text = text.casefold()
        if cfg.hyphen_to_space:
            text = text.replace("-", " ")
        if cfg.remove_punctuation:
            text = "".join(
                " "
                if unicodedata.category(c).startswith("P") and c not in cfg.keep_punctuation
                else c
                for c in text
            )
        return " ".join(text.split())

    def save(self, lang_dir: Pathlike) -> Path:
        """Writes ``<lang_dir>/text_norm.json``."""
        path = Path(lang_dir) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self.cfg), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, lang_dir: Pathlike) -> TextNormalizer:
        """The normaliser of ``lang_dir``; lang dirs built before it existed get the default
        (which leaves text of the numbers corpus unchanged)."""
        path = Path(lang_dir) / FILE_NAME
        if not path.exists():
            logger.info("%s not found: using the default text normalisation", path)
            return cls()
        try:
            return cls(TextNormConfig(**json.loads(path.read_text(encoding="utf-8"))))
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"{path}: not a text normalisation file ({e}); rebuild the lang dir"
            ) from e
