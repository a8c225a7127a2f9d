"""egs/voxlingua107/LID on a fake corpus in the real layout (xlsr.testing.fake_corpora):
stages 0-5 with the tiny encoder, fairseq's report over the whole test set, a rerun that
skips every finished stage, stage 4 under torchrun (2 CPU processes) with a --train-overlay,
and stage 0's layout message when the corpus is missing."""

import json
import sys
from pathlib import Path

import pytest
from lhotse import load_manifest

from xlsr.testing.fake_corpora import write_voxlingua107
from xlsr.testing.recipe import copy_recipe, run_recipe

LANGS = ["ceb", "en", "iw"]
REPORT = ["| run classification evaluation", "| acc = ", "| acc 0to5 = ", "| acc 5to20 = "]


@pytest.fixture
def corpus(tmp_path):
    train = tmp_path / "voxlingua107"
    dev = tmp_path / "voxlingua107_dev"
    write_voxlingua107(train, LANGS, 4)  # 2 videos of 2 segments per language
    write_voxlingua107(dev, LANGS, 3, seed=1)  # 1.5, 3 and 6 s: both report buckets
    return train, dev


def test_voxlingua107_lid_stages_0_to_5(tmp_path, corpus):
    # Invariant: the recipe runs from the corpus layout to fairseq's report over every
    # official-dev (test) utterance; the held-out dev is whole training videos; a rerun
    # skips all stages.
    train, dev = corpus
    work = copy_recipe("egs/voxlingua107/LID", tmp_path / "work")
    args = ["--corpus-dir", str(train), "--dev-dir", str(dev), "--dev-per-lang", "1"]
    args += ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--views", "2"]
    args += ["--num-jobs", "2"]
    out = run_recipe(work, *args)
    assert all(line in out for line in REPORT), out[-2000:]
    assert (work / "data" / "lang_lid" / "labels.txt").read_text().split() == LANGS
    dec = work / "exp" / "lid" / "decode" / "argmax"
    score = json.loads((dec / "score-test.json").read_text())
    assert {"accuracy", "n", "accuracy_0_5", "n_0_5", "accuracy_5_20", "n_5_20"} <= set(score)
    assert score["n"] == score["utts"] == 9 and (score["n_0_5"], score["n_5_20"]) == (6, 3)
    report = (dec / "report-test.txt").read_text().splitlines()
    assert [line[: len(r)] for line, r in zip(report, REPORT)] == REPORT
    videos = {}  # split -> the videos of its cuts: no video straddles train and dev
    for split in ("train", "dev"):
        cuts = load_manifest(work / "data" / "manifests" / f"voxlingua107_cuts_{split}.jsonl.gz")
        videos[split] = {c.id.rsplit("---", 1)[0] for c in cuts}
    assert len(videos["dev"]) == 3 and not videos["train"] & videos["dev"]
    rows = [json.loads(x) for x in (dec / "hyps-test.jsonl").read_text().splitlines()]
    assert sorted({r["ref"] for r in rows}) == LANGS
    again = run_recipe(work, *args)
    assert again.count("up to date") == 2 and "trained from these inputs" in again, again
    assert "already decoded" in again and "Stage 5" in again


def test_voxlingua107_missing_corpus_stops_at_stage_0(tmp_path, corpus):
    # Invariant: a missing or empty corpus stops before any work, naming the directory and
    # showing the layout it should have.
    train, dev = corpus
    work = copy_recipe("egs/voxlingua107/LID", tmp_path / "work")
    err = run_recipe(
        work, "--corpus-dir", str(tmp_path / "nowhere"), "--dev-dir", str(dev), expect_rc=1
    )
    assert f"--corpus-dir {tmp_path / 'nowhere'}" in err
    assert f"{tmp_path / 'nowhere'}/en/<video id>---<start>-<end>.wav" in err
    assert "Stage 1" not in err and not (work / "data" / "manifests").exists()
    (tmp_path / "empty").mkdir()
    err = run_recipe(
        work, "--corpus-dir", str(train), "--dev-dir", str(tmp_path / "empty"), expect_rc=1
    )
    assert "no <lang>/*.wav" in err and "--dev-dir" in err
    err = run_recipe(
        work, "--corpus-dir", str(train), "--dev-dir", str(dev), "--langs", "en,xx", expect_rc=1
    )
    assert f"no directory {train}/xx" in err


def test_voxlingua107_stage_4_under_torchrun(tmp_path, corpus):
    # Invariant: the README's multi-GPU way (stage 4 alone with PYTHON="torchrun ...") trains
    # with 2 processes (gloo on CPU) and leaves the marker that stage 5 requires; a
    # --train-overlay YAML is layered over the conf, its global batch resolved for 2
    # processes (as utils/conf/xlsr_2b.yaml is for N GPUs); with --shar true stage 3 packs the
    # training cuts into Shar shards and stage 4 trains from them.
    train, dev = corpus
    work = copy_recipe("egs/voxlingua107/LID", tmp_path / "work")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("train:\n  global_batch_duration: 120.0\ndata:\n  max_duration: 30.0\n")
    args = ["--corpus-dir", str(train), "--dev-dir", str(dev), "--dev-per-lang", "1"]
    args += ["--encoder-preset", "xlsr_tiny", "--max-update", "2", "--views", "1"]
    args += ["--train-overlay", str(overlay), "--shar", "true"]
    out = run_recipe(work, *args, "--stop-stage", "3")
    shar = work / "data" / "manifests" / "voxlingua107_cuts_train_shar"
    assert "packing data/manifests/voxlingua107_cuts_train.jsonl.gz" in out, out[-2000:]
    assert (shar / "cuts.000000.jsonl.gz").exists() and (shar / "recording.000000.tar").exists()
    torchrun = f"{Path(sys.executable).parent / 'torchrun'} --standalone --nproc_per_node 2"
    out = run_recipe(work, *args, "--stage", "4", "--stop-stage", "4", python=torchrun)
    assert out.count("training done: 2 updates") == 2, out[-2000:]
    assert "global batch 120 s per update: 2 process(es) x update_freq 2 x batches of 30.0 s" in out
    config = (work / "exp" / "lid" / "config.yaml").read_text()
    assert "update_freq: 2" in config and "max_duration: 30.0" in config
    assert "global_batch_duration: 120.0" in config and "lr: 0.0003" in config  # conf's lr
    assert f"train_cuts: {shar.relative_to(work)}" in config  # trained from the shards
    out = run_recipe(work, *args, "--stage", "5")
    assert REPORT[1] in out and "correct=" in out
