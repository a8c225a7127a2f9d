"""egs/voxceleb1/SID on a fake corpus in the real layout (xlsr.testing.fake_corpora):
stages 0-5 with the tiny encoder (identification on the iden split's test set, verification
on the trials), a rerun that skips every finished stage, and stage 0's layout message when
the identification split is missing."""

import json

import pytest
from lhotse import load_manifest

from xlsr.testing.fake_corpora import write_voxceleb1
from xlsr.testing.recipe import copy_recipe, run_recipe

SPEAKERS = ["id10001", "id10002", "id10270"]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "voxceleb1"
    write_voxceleb1(root, SPEAKERS, 2, 2)  # 4 utterances per speaker: 2 train, 1 dev, 1 test
    return root


def test_voxceleb1_sid_stages_0_to_5(tmp_path, corpus):
    # Invariant: from the corpus layout to identification scores over the iden split's test
    # set and EER / minDCF over every trial of veri_test2.txt (whose utterances get their own
    # manifest although the split puts them in train); a rerun skips all stages.
    work = copy_recipe("egs/voxceleb1/SID", tmp_path / "work")
    args = ["--corpus-dir", str(corpus), "--encoder-preset", "xlsr_tiny", "--max-update", "3"]
    args += ["--views", "2", "--num-jobs", "2"]
    out = run_recipe(work, *args)
    assert "| acc = " in out and "veri: verify" in out, out[-2000:]
    assert (work / "data" / "lang_sid" / "labels.txt").read_text().split() == SPEAKERS
    manifests = work / "data" / "manifests"
    test = load_manifest(manifests / "voxceleb1_cuts_test.jsonl.gz")
    assert [c.supervisions[0].speaker for c in test] == SPEAKERS
    assert test[0].id == "id10001-0001v01s00x-00004"
    trials = (manifests / "voxceleb1_trials_veri.txt").read_text().splitlines()
    assert trials[0] == "1 id10001-0001v00s00x-00001 id10001-0001v01s00x-00004"
    veri = load_manifest(manifests / "voxceleb1_cuts_veri.jsonl.gz")
    assert {c.id for c in veri} == {x for t in trials for x in t.split()[1:]}
    dec = work / "exp" / "sid" / "decode"
    score = json.loads((dec / "argmax" / "score-test.json").read_text())
    assert {"accuracy", "n"} <= set(score) and score["n"] == 3
    veri_score = json.loads((dec / "verify" / "score-veri.json").read_text())
    assert {"eer", "min_dcf", "p_target"} <= set(veri_score)
    assert veri_score["trials"] == veri_score["scored_trials"] == 6
    again = run_recipe(work, *args)
    assert "up to date" in again and "trained from these inputs" in again, again
    assert again.count("already decoded") == 2


def test_voxceleb1_missing_split_stops_at_stage_0(tmp_path, corpus):
    # Invariant: a missing identification split stops before any work, naming the file and
    # showing the layout; without veri_test2.txt the recipe does identification only.
    work = copy_recipe("egs/voxceleb1/SID", tmp_path / "work")
    (corpus / "iden_split.txt").rename(tmp_path / "iden_split.txt")
    err = run_recipe(work, "--corpus-dir", str(corpus), expect_rc=1)
    assert f"missing --iden-split file {corpus / 'iden_split.txt'}" in err, err
    assert f"{corpus}/wav/id10001/1zcIwhmdeo4/00001.wav" in err
    assert "Stage 1" not in err and not (work / "data" / "manifests").exists()
    err = run_recipe(work, "--corpus-dir", str(tmp_path / "nowhere"), expect_rc=1)
    assert f"--corpus-dir {tmp_path / 'nowhere'}: the directory does not exist" in err
    (corpus / "veri_test2.txt").unlink()
    args = ["--corpus-dir", str(corpus), "--iden-split", str(tmp_path / "iden_split.txt")]
    out = run_recipe(work, *args, "--stop-stage", "1")
    assert "identification only" in out
    assert not (work / "data" / "manifests" / "voxceleb1_cuts_veri.jsonl.gz").exists()
