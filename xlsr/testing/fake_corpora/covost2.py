"""A fake CoVoST 2 on disk: Common Voice v4-like clips and the CoVoST 2 translation TSVs.

Common Voice side (:func:`xlsr.testing.fake_corpora.write_commonvoice`, one language
directory each): ``<cv_root>/<lang>/clips/common_voice_<lang>_<n>.mp3`` (48 kHz mp3) and
``train.tsv``, ``dev.tsv``, ``test.tsv``, ``validated.tsv``. CoVoST side, as the files of
``covost_v2.<src>_<tgt>.tsv.tar.gz`` unpack: ``<covost_dir>/covost_v2.<src>_<tgt>.tsv`` with a
header line and the columns :data:`COVOST_COLUMNS`; ``split`` is ``train``, ``dev`` or
``test`` for the clips of Common Voice's own splits and ``train_covost`` for validated clips
in none of them (CoVoST 2's extended train split), except the last validated-only clip of
each language, which no CoVoST TSV lists (a reader must join on ``path``). Translations are
distinct per (clip, target) and carry capitals and punctuation, some a backslash-escaped
double quote (``\\"``: the TSVs are read with ``escapechar='\\'``, as
``get_covost_splits.py`` reads them); Chinese and Japanese targets get CJK characters.

    write_covost2(tmp_path / "cv4", tmp_path / "covost", x_en=["fr", "sv-SE"], en_x=["ca"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

from xlsr.testing.fake_corpora import write_commonvoice

Pathlike = Union[str, Path]

#: The columns of a fake covost_v2.<src>_<tgt>.tsv (readers need path, translation, split).
COVOST_COLUMNS = ["path", "sentence", "translation", "client_id", "split"]
_CJK = "的一是不了人我在有他这中大来上国个到说们"


def _translation(lang: str, i: int) -> str:
    """The i-th translation into ``lang`` as the TSV holds it (every third one with a double
    quote escaped by a backslash, as pandas writes with ``escapechar='\\'``)."""
    if lang.split("-")[0] in ("zh", "ja"):
        return "".join(_CJK[(i + k) % len(_CJK)] for k in range(3 + i % 3)) + "。"
    if i % 3 == 1:
        return f'{lang.upper()} sentence {i}, \\"word\\" {chr(97 + i % 26)}!'
    return f"{lang.upper()} sentence {i}, word {chr(97 + i % 26)}!"


def _rows(lang_dir: Path) -> Dict[str, List[Dict[str, str]]]:
    out = {}
    for name in ("train", "dev", "test", "validated"):
        lines = (lang_dir / f"{name}.tsv").read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        out[name] = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    return out


def write_covost2(
    cv_root: Pathlike,
    covost_dir: Pathlike,
    x_en: Sequence[str] = ("fr", "de"),
    en_x: Sequence[str] = ("de", "ca"),
    n_per_split: int = 3,
    extra_validated: int = 2,
) -> Dict[str, List[Path]]:
    """Write Common Voice clips of ``x_en`` sources and English, and their CoVoST TSVs.

    Args:
        cv_root: The Common Voice v4 root (gets ``<lang>/clips`` and the TSVs).
        covost_dir: Gets ``covost_v2.<src>_en.tsv`` per source and ``covost_v2.en_<tgt>.tsv``
            per target.
        x_en: Source languages of X -> En.
        en_x: Target languages of En -> X (English clips are written when non-empty).
        n_per_split: Clips in each of Common Voice's train, dev and test per language.
        extra_validated: Validated clips in no Common Voice split per language: all but
            the last are ``train_covost`` rows.

    Returns:
        dict: language -> the mp3 files written.
    """
    cv_root, covost_dir = Path(cv_root), Path(covost_dir)
    covost_dir.mkdir(parents=True, exist_ok=True)
    langs = list(x_en) + (["en"] if en_x else [])
    clips = {}
    for seed, lang in enumerate(langs):
        clips[lang] = write_commonvoice(cv_root, lang, n_per_split, extra_validated, seed=seed)
    for lang in langs:
        rows = _rows(cv_root / lang)
        split = {r["path"]: s for s in ("train", "dev", "test") for r in rows[s]}
        listed = rows["validated"][:-1] if extra_validated else rows["validated"]
        for tgt in ["en"] if lang != "en" else list(en_x):
            lines = ["\t".join(COVOST_COLUMNS)]
            for i, r in enumerate(listed):
                values = {
                    **r,
                    "translation": _translation(tgt, i),
                    "split": split.get(r["path"], "train_covost"),
                }
                lines.append("\t".join(values[c] for c in COVOST_COLUMNS))
            tsv = covost_dir / f"covost_v2.{lang}_{tgt}.tsv"
            tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return clips
