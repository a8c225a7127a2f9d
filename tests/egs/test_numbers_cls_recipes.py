"""egs/numbers/LID and egs/numbers/SID at a tiny size, in scratch copies: stages 0-5 from
nothing, fairseq's report printed, the result files written, and a rerun that skips every
finished stage. (The shared shell pieces - markers, stale exp dirs, logs - are tested in
depth by tests/egs/test_numbers_asr_recipe.py.)"""

import json

import pytest

from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--num-utterances", "150", "--languages", "en,de,fr", "--max-number", "99"]
TINY += ["--numbers-per-utt", "1,3", "--encoder-preset", "xlsr_tiny", "--max-update", "3"]
TINY += ["--views", "2"]
REPORT = ["| run classification evaluation", "| acc = ", "| acc 0to5 = ", "| acc 5to20 = "]


@pytest.fixture(scope="module", autouse=True)
def _espeak():
    pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")


def test_lid_recipe_stages_0_to_5(tmp_path):
    # Invariant: LID runs from nothing to fairseq's report over every test utterance, with
    # the contract-3 files and a confusion matrix; a rerun skips all stages.
    work = copy_recipe("egs/numbers/LID", tmp_path)
    out = run_recipe(work, *TINY)
    assert all(line in out for line in REPORT), out[-2000:]
    labels = (work / "data" / "lang_lid" / "labels.txt").read_text().split()
    assert labels == ["de", "en", "fr"]
    dec = work / "exp" / "lid" / "decode" / "argmax"
    score = json.loads((dec / "score-test.json").read_text())
    rows = (dec / "hyps-test.jsonl").read_text().splitlines()
    assert score["n"] == score["utts"] == len(rows) == score["n_0_5"] + score["n_5_20"]
    assert {"accuracy", "accuracy_0_5", "accuracy_5_20"} <= set(score)
    assert len(json.loads(rows[0])["top"]) == 3
    assert (dec / "confusion-test.png").stat().st_size > 1000
    assert (dec / "report-test.txt").read_text().splitlines()[0] == REPORT[0]
    again = run_recipe(work, *TINY)
    assert again.count("up to date") == 3 and "trained from these inputs" in again, again
    assert "already decoded" in again


def test_sid_recipe_identification_and_verification(tmp_path):
    # Invariant: SID trains on the training speakers, identifies their held-out utterances
    # (every one scored) and verifies the unseen speakers' trials (EER and minDCF over all).
    work = copy_recipe("egs/numbers/SID", tmp_path)
    args = [*TINY, "--speakers-per-lang", "5", "--eval-speakers-per-lang", "1"]
    out = run_recipe(work, *args)
    assert REPORT[0] in out
    manifests = work / "data" / "manifests"
    trials = (manifests / "sid_trials_veri.txt").read_text().splitlines()
    assert {line.split()[0] for line in trials} == {"0", "1"}
    exp = work / "exp" / "sid" / "decode"
    ident = json.loads((exp / "argmax" / "score-test.json").read_text())
    assert ident["n"] == ident["utts"] > 0
    veri = json.loads((exp / "verify" / "score-veri.json").read_text())
    assert veri["trials"] == len(trials) == veri["scored_trials"]
    assert 0.0 <= veri["eer"] <= 100.0 and veri["min_dcf"] >= 0.0
    assert len((exp / "verify" / "scores-veri.txt").read_text().splitlines()) == len(trials)
