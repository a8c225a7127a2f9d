"""egs/mls/ASR on a fake Multilingual LibriSpeech language in the real layout
(xlsr.testing.fake_corpora.mls): stages 0-5 with the tiny encoder on the 10 h subset, a rerun
that skips every finished stage, the other subsets and the opus release at stage 1, a missing
audio file at stage 1 and stage 0's layout messages."""

import gzip
import json
import shutil

import pytest

from xlsr.testing.fake_corpora.mls import write_mls
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--num-jobs", "2"]
#: the option checks come first: k2-free options run stages 0-1 in both lanes
TORCH_CTC = ["--ctc-loss", "torch", "--methods", "ctc-greedy-search"]
#: the fake train split: 4 utterances in the 10 h subset (even ids in 1hr/, odd ones in 9hr/)
#: and 2 outside it
SUBSET = ["1001_5000_000000", "1002_5001_000001", "1001_5000_000002", "1002_5001_000003"]


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _manifest(work, kind, split):
    return _jsonl_gz(work / "data/german/manifests" / f"mls_german_{kind}_{split}.jsonl.gz")


def test_mls_asr_stages_0_to_5(tmp_path):
    # Invariant: from the archive's layout to scored hypotheses of the test split, under
    # data/german and exp/german; train holds exactly the 10 h subset's utterances with their
    # transcripts verbatim; the LM text is the rest of train, never a dev or test sentence (a
    # train line repeating a test sentence is dropped) and never read as audio (that line has
    # none); a rerun skips every stage.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    root = tmp_path / "mls"
    write_mls(root, "german", 4, extra_train=2)
    train_txt = root / "mls_german/train/transcripts.txt"
    test_line = (root / "mls_german/test/transcripts.txt").read_text().splitlines()[0]
    test_sentence = test_line.partition("\t")[2]
    with open(train_txt, "a") as f:
        f.write(f"1003_5002_000000\t{test_sentence}\n")
    work = copy_recipe("egs/mls/ASR", tmp_path / "ASR")
    args = ["--corpus-dir", str(root), *TINY]
    out = run_recipe(work, *args)
    assert "train: 4 of 7 utterances (--train-subset 10h)" in out, out[-2000:]
    assert "test: 1best" in out, out[-2000:]
    sups = _manifest(work, "supervisions", "train")
    assert [s["id"] for s in sups] == SUBSET
    assert sups[1]["text"] == "ging-nach's nach hause train 1"  # as MLS gives it
    assert [(s["speaker"], s["gender"]) for s in sups[:2]] == [("1001", "F"), ("1002", "M")]
    assert {s["language"] for s in sups} == {"german"}
    assert len(_manifest(work, "cuts", "dev")) == 4 and len(_manifest(work, "cuts", "test")) == 4
    recs = _manifest(work, "recordings", "test")
    assert {r["sampling_rate"] for r in recs} == {16000}
    assert recs[0]["sources"][0]["source"].endswith(
        "mls_german/test/audio/1201/5200/1201_5200_000000.flac"
    )
    lm_text = (work / "data/german/lm_text/german.txt").read_text().splitlines()
    assert lm_text == ["und sah den train 4", "sah den alten baum train 5"]
    assert (work / "data/german/lang_char/HLG.pt").exists()
    dec = work / "exp/german/ctc/decode"
    for method in ("ctc-greedy-search", "1best", "whole-lattice-rescoring/lm_scale_0.5"):
        score = json.loads((dec / method / "score-test.json").read_text())
        assert {"wer", "words", "ins", "del", "sub"} <= set(score), method
        rows = (dec / method / "hyps-test.jsonl").read_text().splitlines()
        assert len(rows) == 4 and all("ref" in json.loads(r) for r in rows), method
    refs = [json.loads(r)["ref"] for r in (dec / "1best/hyps-test.jsonl").read_text().splitlines()]
    assert "anna ging's ging nach hause test 1" in refs  # the lang dir's normaliser: "-" -> " "
    again = run_recipe(work, *args)
    assert again.count("up to date") == 3 and "trained from these inputs" in again, again
    assert "already decoded" in again and "Stage 5" in again


def test_mls_subsets_and_opus_at_stage_1(tmp_path):
    # Invariant: the opus release (mls_german_opus/) reads like the flac one, through
    # soundfile; --train-subset picks the six 1hr lists (1h), the 9hr list (9h) or all of
    # train (full, no LM text left), and a changed subset reruns stage 1.
    root = tmp_path / "mls"
    write_mls(root, "german", 4, extra_train=2, audio_format="opus")
    work = copy_recipe("egs/mls/ASR", tmp_path / "ASR")
    base = ["--corpus-dir", str(root), "--audio-format", "opus", "--stage", "0", "--stop-stage"]
    for subset, ids, n_lm in [
        ("1h", SUBSET[0::2], 4),
        ("9h", SUBSET[1::2], 4),
        ("full", SUBSET + ["1001_5000_000004", "1002_5001_000005"], 0),
    ]:
        run_recipe(work, *base, "1", "--train-subset", subset, "--num-jobs", "2")
        assert [s["id"] for s in _manifest(work, "supervisions", "train")] == ids, subset
        lm_text = (work / "data/german/lm_text/german.txt").read_text().splitlines()
        assert len(lm_text) == n_lm, subset
    recs = _manifest(work, "recordings", "dev")
    assert recs[0]["sources"][0]["source"].endswith(
        "mls_german_opus/dev/audio/1101/5100/1101_5100_000000.opus"
    )
    assert {r["sampling_rate"] for r in recs} == {16000}
    from lhotse import load_manifest

    cut = load_manifest(work / "data/german/manifests/mls_german_cuts_dev.jsonl.gz")[0]
    assert cut.load_audio().shape == (1, 16000)  # 1 s of Ogg Opus decoded by libsndfile


def test_mls_missing_audio_stops_at_stage_1(tmp_path):
    # Invariant: an utterance of the subset without its audio file stops stage 1 before any
    # manifest is written, naming the file and the fix.
    root = tmp_path / "mls"
    write_mls(root, "german", 4, extra_train=2)
    missing = root / "mls_german/train/audio/1002/5001/1002_5001_000003.flac"
    missing.unlink()
    work = copy_recipe("egs/mls/ASR", tmp_path / "ASR")
    err = run_recipe(work, "--corpus-dir", str(root), "--stop-stage", "1", expect_rc=1)
    assert f"{missing}: no audio for utterance 1002_5001_000003" in err, err[-2000:]
    assert "--audio-format opus" in err
    assert not list((work / "data/german/manifests").glob("*.jsonl.gz"))


def test_mls_layout_stops_at_stage_0(tmp_path):
    # Invariant: a language not unpacked (or unpacked as the other release), a split without
    # audio and a missing handles.txt each stop before any work, naming the directory or
    # file and showing the layout it should have.
    root = tmp_path / "mls"
    write_mls(root, "german", 2, extra_train=0, audio_format="opus")
    work = copy_recipe("egs/mls/ASR", tmp_path / "ASR")
    err = run_recipe(work, "--corpus-dir", str(root), "--lang", "dutch", *TORCH_CTC, expect_rc=1)
    assert f"no MLS language 'dutch' (flac) at --corpus-dir {root}" in err
    assert f"{root}/mls_dutch/{{train,dev,test}}/transcripts.txt" in err
    assert "https://www.openslr.org/94/" in err
    args = ["--corpus-dir", str(root), "--stop-stage", "0"]  # faster: no k2 probe
    err = run_recipe(work, *args, expect_rc=1)
    assert f"{root}/mls_german_opus exists: pass --audio-format opus" in err
    opus, d = ["--audio-format", "opus"], root / "mls_german_opus"
    shutil.move(d / "dev/audio", tmp_path / "dev_audio")
    err = run_recipe(work, *args, *opus, expect_rc=1)
    assert f"no {d}/dev/audio/<spk>/<book>/*.opus" in err
    shutil.move(tmp_path / "dev_audio", d / "dev/audio")
    (d / "train/limited_supervision/9hr/handles.txt").unlink()
    err = run_recipe(work, *args, *opus, expect_rc=1)
    assert f"no {d}/train/limited_supervision/9hr/handles.txt" in err
    assert "or use --train-subset full" in err
    assert "Stage 1" not in err and not (work / "data").exists()
    out = run_recipe(work, *args, *opus, "--train-subset", "1h")
    assert "--train-subset 1h: 1 utterance ids in 6 handles.txt" in out
