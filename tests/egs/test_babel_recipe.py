"""egs/babel/ASR on a fake BABEL language pack in the real layout
(xlsr.testing.fake_corpora.babel): stages 0-5 with the tiny encoder, the segmentation by time
marks, the annotations removed, segments without words dropped and counted, the held-out dev
speakers, a rerun that skips every finished stage; stage 0's layout messages, and stage 1's
stop on shorten-compressed SPHERE and on a pack of another language."""

import gzip
import json
import re
import shutil

import pytest

from xlsr.data.babel import parse_file_name
from xlsr.testing.fake_corpora.babel import SHOWCASE, SHOWCASE_TEXTS, make_shorten, write_babel
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--num-jobs", "2"]
# k2-free options (the option checks come first), so that the error tests run in both lanes
TORCH_CTC = ["--ctc-loss", "torch", "--methods", "ctc-greedy-search"]


@pytest.fixture
def corpus(tmp_path):
    # 4 training calls and 1 dev call, two sides each: a <no-speech> segment and two with
    # words per side; the first call's inLine side is SHOWCASE
    root = tmp_path / "babel"
    paths = write_babel(root / "IARPA_BABEL_OP1_102", "102")
    return root, paths


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _check_manifests(man, paths):
    sups = {
        s: _jsonl_gz(man / f"babel_102_supervisions_{s}.jsonl.gz") for s in ("train", "dev", "test")
    }
    cuts = {s: _jsonl_gz(man / f"babel_102_cuts_{s}.jsonl.gz") for s in ("train", "dev", "test")}
    # the showcase side: one supervision per time-marked segment with words, start and
    # duration from the marks, annotations gone
    rec_id = paths["training"][0].stem
    marks = [start for start, _ in SHOWCASE[0]] + [SHOWCASE[1]]
    want = [
        (marks[i], round(marks[i + 1] - marks[i], 6), text)
        for i, text in enumerate(SHOWCASE_TEXTS)
        if text is not None
    ]
    got = [
        (s["start"], s["duration"], s["text"])
        for s in sups["train"] + sups["dev"]
        if s["recording_id"] == rec_id
    ]
    assert got == want
    for split, rows in sups.items():
        assert rows and all(re.fullmatch(r"[a-z]+( [a-z]+)*", s["text"]) for s in rows), split
        assert {s["language"] for s in rows} == {"102"}
        # cuts are the segments of the whole recordings
        assert [c["id"] for c in cuts[split]] == [s["id"] for s in rows]
        assert [c["start"] for c in cuts[split]] == [s["start"] for s in rows]
        assert {c["recording"]["sampling_rate"] for c in cuts[split]} == {8000}
        assert all(c["recording"]["sources"][0]["source"].endswith(".sph") for c in cuts[split])
    # dev: whole held-out speakers' calls, both sides; test: the pack's dev set
    calls = {
        s: {parse_file_name(r["recording_id"]).conversation for r in rows}
        for s, rows in sups.items()
    }
    ids = {
        s: {parse_file_name(r["recording_id"]).speaker_id for r in rows} for s, rows in sups.items()
    }
    assert len(calls["dev"]) == 1 and len(calls["train"]) == 3 and not calls["dev"] & calls["train"]
    assert not ids["dev"] & ids["train"]
    assert {r["speaker"][-1] for r in sups["dev"]} == {"A", "B"}
    assert {r["recording_id"] for r in sups["test"]} == {p.stem for p in paths["dev"]}


def test_babel_asr_stages_0_to_5(tmp_path, corpus):
    # Invariant: from the pack layout to scored hypotheses of the pack's dev set, everything
    # under data/102 and exp/102; a cut per time-marked segment with words, the dropped ones
    # counted; a rerun skips every stage.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    root, paths = corpus
    work = copy_recipe("egs/babel/ASR", tmp_path / "ASR")
    args = ["--corpus-dir", str(root), "--lang", "102", *TINY]
    out = run_recipe(work, *args)
    assert "test: 1best" in out, out[-2000:]
    assert f"pack {root}/IARPA_BABEL_OP1_102: 8 training and 2 dev transcripts" in out
    # per side a <no-speech>, the showcase's "(()) <breath>", the empty interval of call 0
    no_speech = [int(n) for n in re.findall(r"no speech: annotations only: (\d+)", out)]
    assert sum(no_speech[:2]) == 9 and no_speech[2] == 2, out
    assert "segments dropped, no text: 1" in out
    _check_manifests(work / "data" / "102" / "manifests", paths)
    assert (work / "data" / "102" / "lang_char" / "HLG.pt").exists()
    dec = work / "exp" / "102" / "ctc" / "decode"
    for method in ("ctc-greedy-search", "1best", "whole-lattice-rescoring/lm_scale_0.5"):
        score = json.loads((dec / method / "score-test.json").read_text())
        assert {"wer", "words", "ins", "del", "sub"} <= set(score), method
        assert len((dec / method / "hyps-test.jsonl").read_text().splitlines()) == 4, method
    again = run_recipe(work, *args)
    assert again.count("up to date") == 3 and "trained from these inputs" in again, again
    assert "already decoded" in again and "Stage 5" in again


def test_babel_layout_errors_stop_at_stage_0(tmp_path, corpus):
    # Invariant: a pack without transcripts, or no pack of the language, stops before any
    # work, naming the directory and showing the layout it should have.
    root, _ = corpus
    work = copy_recipe("egs/babel/ASR", tmp_path / "ASR")
    pack = root / "IARPA_BABEL_OP1_102"
    shutil.rmtree(pack / "conversational" / "dev" / "transcription")
    err = run_recipe(work, "--corpus-dir", str(root), "--lang", "102", *TORCH_CTC, expect_rc=1)
    assert f"no transcripts in {pack}/conversational/dev" in err
    assert f"{pack}/conversational/training/transcription/BABEL_<phase>_102_" in err
    assert "Stage 1" not in err and not (work / "data").exists()
    err = run_recipe(work, "--corpus-dir", str(root), "--lang", "106", *TORCH_CTC, expect_rc=1)
    assert f"no BABEL pack of language 106 in --corpus-dir {root}" in err
    err = run_recipe(work, "--lang", "assamese", *TORCH_CTC, expect_rc=1)
    assert "--lang must be a BABEL language code of three digits" in err


def test_babel_shorten_and_wrong_language_stop_stage_1(tmp_path, corpus):
    # Invariant: shorten-compressed SPHERE (older LDC releases; libsndfile cannot read it)
    # stops stage 1 with the file and the fix, not a traceback, and leaves no marker; so does
    # a pack whose files are of another language than --lang.
    root, paths = corpus
    work = copy_recipe("egs/babel/ASR", tmp_path / "ASR")
    make_shorten(paths["training"][2])
    args = ["--corpus-dir", str(root), "--lang", "102", "--stop-stage", "1", *TORCH_CTC]
    err = run_recipe(work, *args, expect_rc=1)
    assert f"{paths['training'][2]}: shorten-compressed NIST SPHERE" in err, err
    assert "sph2pipe -f sph" in err and "--pack-dir" in err and "Traceback" not in err
    assert not (work / "data" / "102" / "manifests" / ".done").exists()
    pack = root / "IARPA_BABEL_OP1_102"
    err = run_recipe(work, "--pack-dir", str(pack), "--lang", "106", *args[4:], expect_rc=1)
    assert "a file of BABEL language 102 (assamese), but --lang is 106" in err, err
    assert "Traceback" not in err
