"""egs/commonvoice/ASR on a fake Common Voice release in the real layout
(xlsr.testing.fake_corpora): stages 0-5 with the tiny encoder on one language, a rerun that
skips every finished stage, a per-language copy made by editing its options block alone, and
stage 0's layout message when the clips are missing."""

import gzip
import json
import shutil

import pytest

from xlsr.testing.fake_corpora import write_commonvoice
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--num-jobs", "2"]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "cv-corpus"
    write_commonvoice(root, "fr", 3)  # 3 clips per split, 2 more validated only
    write_commonvoice(root, "de", 3, seed=1)
    return root


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _check_decoded(work, lang):
    dec = work / "exp" / lang / "ctc" / "decode"
    for method in ("ctc-greedy-search", "1best", "whole-lattice-rescoring/lm_scale_0.5"):
        score = json.loads((dec / method / "score-test.json").read_text())
        assert {"wer", "words", "ins", "del", "sub"} <= set(score), method
        rows = (dec / method / "hyps-test.jsonl").read_text().splitlines()
        assert len(rows) == 3 and all("ref" in json.loads(r) for r in rows), method


def test_commonvoice_asr_stages_0_to_5(tmp_path, corpus):
    # Invariant: from the release layout to scored hypotheses of the test split, everything
    # under data/fr and exp/fr; the text is the normalised sentence (quotes and punctuation
    # gone), the speaker the client_id; the LM text holds validated sentences in no split
    # (never a dev or test sentence); a rerun skips every stage.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    work = copy_recipe("egs/commonvoice/ASR", tmp_path / "ASR")
    args = ["--corpus-dir", str(corpus), "--lang", "fr", *TINY]
    out = run_recipe(work, *args)
    assert "test: 1best" in out, out[-2000:]
    man = work / "data" / "fr" / "manifests"
    sups = _jsonl_gz(man / "commonvoice_fr_supervisions_train.jsonl.gz")
    assert [s["text"] for s in sups][:2] == ["alpha number 0", "bravo charlie number 1 he said"]
    assert {s["language"] for s in sups} == {"fr"} and sups[0]["speaker"].startswith("0000client00")
    recs = _jsonl_gz(man / "commonvoice_fr_recordings_test.jsonl.gz")
    assert {r["sampling_rate"] for r in recs} == {48000}  # resampled on load
    assert recs[0]["sources"][0]["source"].endswith("/fr/clips/common_voice_fr_1006.mp3")
    lm_text = (work / "data" / "fr" / "lm_text" / "fr.txt").read_text().splitlines()
    assert lm_text == ["juliett number 9 he said", "kilo lima number 10"]
    assert (work / "data" / "fr" / "lang_char" / "HLG.pt").exists()
    _check_decoded(work, "fr")
    assert not (work / "data" / "de").exists()
    again = run_recipe(work, *args)
    assert again.count("up to date") == 3 and "trained from these inputs" in again, again
    assert "already decoded" in again and "Stage 5" in again


def test_commonvoice_per_language_copy(tmp_path, corpus):
    # Invariant: a copy of the recipe under another name whose options block names another
    # language (and nothing else changed) runs that language alone, into data/de and exp/de.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    work = copy_recipe("egs/commonvoice/ASR", tmp_path / "ASR_de")
    run_sh = work / "run.sh"
    text = run_sh.read_text()
    assert text.count("\nlang=fr ") == 1
    run_sh.write_text(text.replace("\nlang=fr ", "\nlang=de "))
    out = run_recipe(work, "--corpus-dir", str(corpus), *TINY)
    assert "test: 1best" in out, out[-2000:]
    _check_decoded(work, "de")
    sups = _jsonl_gz(work / "data/de/manifests/commonvoice_de_supervisions_dev.jsonl.gz")
    assert {s["language"] for s in sups} == {"de"} and len(sups) == 3
    assert not (work / "data" / "fr").exists() and not (work / "exp" / "fr").exists()


def test_commonvoice_missing_clips_stops_at_stage_0(tmp_path, corpus):
    # Invariant: a language without clips/ (or not unpacked at all) stops before any work,
    # naming the directory and showing the layout it should have.
    work = copy_recipe("egs/commonvoice/ASR", tmp_path / "ASR")
    shutil.rmtree(corpus / "fr" / "clips")
    # the option checks come first: k2-free options, so that it runs in both lanes
    torch_ctc = ["--ctc-loss", "torch", "--methods", "ctc-greedy-search"]
    err = run_recipe(work, "--corpus-dir", str(corpus), "--lang", "fr", *torch_ctc, expect_rc=1)
    assert f"no {corpus}/fr/clips/*.mp3" in err
    assert f"{corpus}/fr/clips/common_voice_fr_<n>.mp3" in err and f"{corpus}/fr/train.tsv" in err
    assert "Stage 1" not in err and not (work / "data").exists()
    err = run_recipe(work, "--corpus-dir", str(corpus), "--lang", "it", *torch_ctc, expect_rc=1)
    assert f"no Common Voice language 'it' at --corpus-dir {corpus}" in err
