"""A tiny lang dir (tokenizer, lexicon, L, G, LG, HLG, HLG.fst) built from a few sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.graph.lang_dir import LangDir
from xlsr.graph.lexicon import prepare_lang_dir

SENTENCES = [
    "one two three",
    "three two one",
    "two two one",
    "one three",
    "four five six",
    "six five four",
    "five one two",
    "three four five six",
    "one",
    "two three four",
    "five six one",
    "four one",
    "six six five",
    "three three one two",
]


def make_tiny_lang_dir(
    lang_dir: Path,
    sentences: List[str] = SENTENCES,
    graphs: bool = True,
    model_type: str = "char",
    lm_orders: Tuple[int, int] = (3, 4),
) -> Dict[str, Path]:
    """Builds a complete lang dir for ``sentences`` (char tokens by default) in ``lang_dir``,
    through the same steps as the recipe (``make_lms``, ``build_graphs``).

    With ``graphs`` (needs k2): L.pt, L_disambig.pt, Linv.pt, lm/<N>gram.arpa and
    G_<N>_gram.pt for both ``lm_orders`` (first pass, rescoring; the LM text is the
    sentences, ``lm.txt``), lm_orders.json, LG.pt, HLG.pt and HLG.fst (from the first-pass G).
    Returns the paths by name in the lang dir (``tokens.txt``, ``G_3_gram.pt`` ...).
    """
    lang = LangDir(lang_dir)
    cfg = TokenizerConfig(model_type=model_type)
    tok = train_tokenizer({"en": sentences}, lang.tokenizer_dir, cfg)
    prepare_lang_dir(lang.path, tok, {"en": sorted({w for s in sentences for w in s.split()})})
    paths = [lang.tokens, lang.words, lang.lexicon]
    if graphs:
        from xlsr.graph.compile import build_graphs, make_lang_fsts
        from xlsr.graph.lm import make_lms

        make_lang_fsts(lang.path)
        text = lang.path / "lm.txt"
        text.write_text("".join(s + "\n" for s in sentences))
        make_lms(lang.path, text, *lm_orders)
        build_graphs(lang.path, *lm_orders)
        paths += [lang.L, lang.L_disambig, lang.Linv, *(lang.G(n) for n in set(lm_orders))]
        paths += [lang.orders_file, lang.LG, lang.HLG, lang.HLG_fst]
    return {lang.name(p): p for p in paths}
