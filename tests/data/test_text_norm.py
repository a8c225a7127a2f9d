"""The lang dir's text normaliser: one spelling at training, LM building and scoring."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xlsr.data.text_norm import TextNormalizer, TextNormConfig
from xlsr.testing.corpus import make_tiny_cutset

ROOT = Path(__file__).resolve().parents[2]


def test_default_folds_case_hyphens_and_punctuation_keeps_apostrophes():
    norm = TextNormalizer()
    assert norm("  Twenty-One, please!  ") == "twenty one please"
    assert norm("l'ÉTÉ «deux»") == "l'été deux"
    assert norm("one two") == "one two"  # the numbers corpus is already normalised


def test_configured_normaliser_round_trips_through_the_lang_dir(tmp_path):
    cfg = TextNormConfig(lowercase=False, remove_punctuation=False, hyphen_to_space=False)
    TextNormalizer(cfg).save(tmp_path)
    loaded = TextNormalizer.load(tmp_path)
    assert loaded.cfg == cfg and loaded("Twenty-One!") == "Twenty-One!"
    assert TextNormalizer.load(tmp_path / "missing").cfg == TextNormConfig()  # old lang dirs
    (tmp_path / "text_norm.json").write_text(json.dumps({"bogus": 1}))
    with pytest.raises(ValueError, match="text_norm.json"):
        TextNormalizer.load(tmp_path)


def test_lm_text_is_normalised_like_the_transcripts(tmp_path):
    cuts = make_tiny_cutset(tmp_path / "audio", n=2, durations=[0.5, 0.5])
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "en.txt").write_text("Twenty-One!\n\nONE\n")
    TextNormalizer().save(tmp_path / "lang")
    out = tmp_path / "lm_text.txt"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "local" / "prepare_lm_text.py"),
            "--lang-dir",
            str(tmp_path / "lang"),
            "--cuts",
            str(tmp_path / "cuts.jsonl.gz"),
            "--lm-text-dir",
            str(tmp_path / "lm"),
            "--out",
            str(out),
        ],
        check=True,
    )
    lines = out.read_text().splitlines()
    assert lines[:2] == ["twenty one", "one"]
    assert lines[2:] == [TextNormalizer()(c.supervisions[0].text) for c in cuts]
