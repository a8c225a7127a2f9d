"""A tiny lang dir (tokenizer, lexicon, L, G, LG, HLG, HLG.fst) built from a few sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.graph.lexicon import prepare_lang_dir

SENTENCES = [
    "one two three", "three two one", "two two one", "one three", "four five six",
    "six five four", "five one two", "three four five six", "one", "two three four",
    "five six one", "four one", "six six five", "three three one two",
]  # fmt: skip


def make_tiny_lang_dir(lang_dir: Path, sentences: List[str] = SENTENCES, graphs: bool = True,
                       model_type: str = "char") -> Dict[str, Path]:  # fmt: skip
    """Builds a complete lang dir for ``sentences`` (char tokens by default) in ``lang_dir``.

    With ``graphs`` (needs k2): L.pt, L_disambig.pt, Linv.pt, G_3_gram.pt, LG.pt, HLG.pt and
    HLG.fst. Returns the paths by name.
    """
    lang_dir = Path(lang_dir)
    tok = train_tokenizer({"en": sentences}, lang_dir / "tokenizer", TokenizerConfig(model_type=model_type))  # fmt: skip
    prepare_lang_dir(lang_dir, tok, {"en": sorted({w for s in sentences for w in s.split()})})
    paths = {name: lang_dir / name for name in ("tokens.txt", "words.txt", "lexicon.txt")}
    if not graphs:
        return paths
    import torch

    from xlsr.graph import compile as graph
    from xlsr.graph import lm

    graph.make_lang_fsts(lang_dir)
    (lang_dir / "lm.txt").write_text("".join(s + "\n" for s in sentences))
    lm.train_arpa(lang_dir / "lm.txt", lang_dir / "3gram.arpa", 3)
    G = lm.make_G(lang_dir / "3gram.arpa", lang_dir / "words.txt", lang_dir / "G_3_gram.pt")
    LG = graph.compile_lg(lang_dir, G)
    torch.save(LG.as_dict(), lang_dir / "LG.pt")
    HLG = graph.compile_hlg(LG, tok.vocab_size - 1)
    torch.save(HLG.as_dict(), lang_dir / "HLG.pt")
    graph.write_hlg_fst(HLG, lang_dir / "HLG.fst")
    for name in ("L.pt", "L_disambig.pt", "Linv.pt", "G_3_gram.pt", "LG.pt", "HLG.pt", "HLG.fst"):
        paths[name] = lang_dir / name
    return paths
