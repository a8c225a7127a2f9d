"""The files of a lang dir, named once, and the LM orders it was built with.

A lang dir (``data/lang_char/``, ``data/lang_bpe_<N>/`` as in icefall) is filled in three
steps; each file below is made by one of them:

    file                        made by
    tokenizer/                  local/prepare_lang.py (stage 2): sentencepiece models, tokens.txt
    target_tokenizer/           local/prepare_st.py (ST stage 2): the target sentencepiece model
                                with language tags (xlsr.data.translation)
    text_norm.json              local/prepare_lang.py (stage 2): the text normaliser
    tokens.txt, words.txt,      local/prepare_lang.py (stage 2): token / word tables, lexicon
    lexicon.txt, lexicon_disambig.txt
    lang.json                   local/prepare_lang_hf.py: optional tokens of an HF vocabulary
    L.pt, L_disambig.pt, Linv.pt  local/prepare_lang.py (stage 2, k2)
    lm/<N>gram.arpa             local/train_lm.py (stage 2): a Kneser-Ney N-gram
    G_<N>_gram.pt               local/train_lm.py (stage 2, k2): that LM as a k2 FSA
    lm_orders.json              local/train_lm.py (stage 2), again by build_graphs (stage 3)
    LG.pt, HLG.pt, HLG.fst      local/compile_graphs.py (stage 3, k2)

``lm_orders.json`` is ``{"first_pass_order": 3, "rescore_order": 4}``: LG/HLG are compiled
from ``G_<first_pass_order>_gram.pt`` and the rescoring methods use
``G_<rescore_order>_gram.pt``. A lang dir without it was built with today's defaults, 3 and 4.
local/prepare_lang_hf.py makes every file of a lang dir for a Hugging Face CTC model.

    lang = LangDir("data/lang_char")
    lang.HLG                       # data/lang_char/HLG.pt (a name; it may not exist yet)
    lang.require(lang.rescore_G)   # the path, or FileNotFoundError naming its maker
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple, Union

from xlsr.data.text_norm import FILE_NAME as TEXT_NORM_FILE

Pathlike = Union[str, Path]
#: LM orders of a lang dir without ``lm_orders.json`` (the recipe's ``--lm-orders 3,4``).
DEFAULT_ORDERS = (3, 4)
_PREPARE = "local/prepare_lang.py (run.sh stage 2; local/prepare_lang_hf.py for an HF model)"
_LM = "local/train_lm.py --orders (run.sh stage 2, --lm-orders)"
_GRAPHS = "local/compile_graphs.py (run.sh stage 3, needs k2)"
_TARGET = (
    "local/prepare_st.py (egs/numbers/ST run.sh stage 2; "
    "xlsr.data.translation.train_target_tokenizer)"
)
#: What makes each file, by name or name pattern (matched on the name in the lang dir).
MAKERS = {
    "lang.json": "local/prepare_lang_hf.py",
    "lm_orders.json": _LM,
    "LG.pt": _GRAPHS,
    "HLG.pt": _GRAPHS,
    "HLG.fst": _GRAPHS,
    "labels.txt": "xlsr.tasks.classification.write_labels (the lid / sid label dictionary)",
    "target_tokenizer/target_tokenizer.json": _TARGET,
    "target_tokenizer/target.model": _TARGET,
}


class LangDirError(FileNotFoundError):
    """A file of a lang dir is missing; the message names it and what makes it."""


def parse_orders(text: str) -> Tuple[int, int]:
    """``"3,5"`` -> (3, 5): the first-pass order and the rescoring order; ``"3"`` -> (3, 3).

    Raises:
        ValueError: naming ``text`` unless it is one or two positive integers.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(
            f"LM orders must be FIRST_PASS[,RESCORE] (positive integers such as 3,4), got {text!r}"
        )
    return int(parts[0]), int(parts[-1])


def orders_arg(text: str) -> Tuple[int, int]:
    """:func:`parse_orders` as an argparse ``type`` (argparse prints the message)."""
    try:
        return parse_orders(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@dataclass(frozen=True)
class LangDir:
    """The files of one lang dir. Properties are names only; :meth:`require` checks them.

    Args:
        path: The lang dir.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -------------------------------------------------------- tables (prepare_lang, stage 2)
    @property
    def tokenizer_dir(self) -> Path:
        """sentencepiece model(s), ``tokenizer.json`` and the model's ``tokens.txt``."""
        return self.path / "tokenizer"

    @property
    def target_tokenizer_dir(self) -> Path:
        """The speech translation target tokenizer (``xlsr.data.translation``)."""
        return self.path / "target_tokenizer"

    @property
    def tokenizer_tokens(self) -> Path:
        """The model's token table (no disambiguation symbols)."""
        return self.tokenizer_dir / "tokens.txt"

    @property
    def text_norm(self) -> Path:
        return self.path / TEXT_NORM_FILE

    @property
    def tokens(self) -> Path:
        """Token table of the graphs: the model's tokens, then #0, #1, ..."""
        return self.path / "tokens.txt"

    @property
    def words(self) -> Path:
        return self.path / "words.txt"

    @property
    def lexicon(self) -> Path:
        return self.path / "lexicon.txt"

    @property
    def lexicon_disambig(self) -> Path:
        return self.path / "lexicon_disambig.txt"

    @property
    def meta(self) -> Path:
        """``lang.json``: lexicon options such as ``optional_tokens`` (HF vocabularies)."""
        return self.path / "lang.json"

    @property
    def L(self) -> Path:
        return self.path / "L.pt"

    @property
    def L_disambig(self) -> Path:
        return self.path / "L_disambig.pt"

    @property
    def Linv(self) -> Path:
        return self.path / "Linv.pt"

    # ----------------------------------------------------------------- LMs (train_lm, stage 2)
    @property
    def lm_dir(self) -> Path:
        return self.path / "lm"

    def arpa(self, order: int) -> Path:
        """The ARPA ``order``-gram, ``lm/<order>gram.arpa``."""
        return self.lm_dir / f"{_order(order)}gram.arpa"

    def G(self, order: int) -> Path:
        """The ``order``-gram as a k2 FSA, ``G_<order>_gram.pt``."""
        return self.path / f"G_{_order(order)}_gram.pt"

    @property
    def orders_file(self) -> Path:
        return self.path / "lm_orders.json"

    @property
    def orders(self) -> Tuple[int, int]:
        """(first-pass order, rescoring order) from ``lm_orders.json``; (3, 4) without it.

        Raises:
            ValueError: naming the file when it is not such a record.
        """
        if not self.orders_file.exists():
            return DEFAULT_ORDERS
        try:
            record = json.loads(self.orders_file.read_text())
            return _order(record["first_pass_order"]), _order(record["rescore_order"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f'{self.orders_file}: expected {{"first_pass_order": N, "rescore_order": M}} '
                f"with positive integers N, M ({e!r}); {_LM} writes it"
            ) from e

    @property
    def first_pass_order(self) -> int:
        return self.orders[0]

    @property
    def rescore_order(self) -> int:
        return self.orders[1]

    @property
    def first_pass_G(self) -> Path:
        """The G that LG and HLG are compiled from."""
        return self.G(self.first_pass_order)

    @property
    def rescore_G(self) -> Path:
        """The G of nbest-rescoring and whole-lattice-rescoring."""
        return self.G(self.rescore_order)

    def write_orders(self, first_pass_order: int, rescore_order: int) -> Path:
        """Records the LM orders in ``lm_orders.json`` (atomically)."""
        record = {
            "first_pass_order": _order(first_pass_order),
            "rescore_order": _order(rescore_order),
        }
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.orders_file.with_name(self.orders_file.name + ".tmp")
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(self.orders_file)
        return self.orders_file

    # -------------------------------------------------------- graphs (compile_graphs, stage 3)
    @property
    def LG(self) -> Path:
        """LG for transducer fast beam search (compiled from :attr:`first_pass_G`)."""
        return self.path / "LG.pt"

    @property
    def HLG(self) -> Path:
        """HLG for CTC decoding (compiled from :attr:`first_pass_G`)."""
        return self.path / "HLG.pt"

    @property
    def HLG_fst(self) -> Path:
        """HLG as an OpenFst binary (kaldi-decoder, sherpa-onnx)."""
        return self.path / "HLG.fst"

    # ------------------------------------------------------------------------------ checks
    def name(self, path: Pathlike) -> str:
        """``path`` relative to the lang dir, e.g. ``tokenizer/tokens.txt``."""
        return Path(path).relative_to(self.path).as_posix()

    def maker(self, path: Pathlike) -> str:
        """The script (and recipe stage) that makes ``path``."""
        name = self.name(path)
        if name in MAKERS:
            return MAKERS[name]
        if name.startswith("lm/") or (name.startswith("G_") and name.endswith("_gram.pt")):
            return _LM
        return _PREPARE

    def require(self, path: Pathlike) -> Path:
        """``path`` (a file of this lang dir) when it exists.

        Raises:
            LangDirError: naming the file and the script and stage that make it.
        """
        path = Path(path)
        if not path.exists():
            raise LangDirError(
                f"{path}: no such file in lang dir {self.path}; {self.maker(path)} makes it"
            )
        return path


def _order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"an LM order must be a positive integer, got {order!r}")
    return order
