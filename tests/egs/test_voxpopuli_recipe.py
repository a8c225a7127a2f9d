"""egs/voxpopuli/ASR on a fake VoxPopuli language as VoxPopuli's own scripts leave it
(xlsr.testing.fake_corpora.voxpopuli): stages 0-5 with the tiny encoder and extra LM text, a
missing segment skipped and counted, a rerun that skips every finished stage, stage 1's stop
when too many segments are missing, and stage 0's layout messages."""

import gzip
import json
import shutil

import pytest

from xlsr.testing.fake_corpora.voxpopuli import write_voxpopuli
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--num-jobs", "2"]
# k2-free options, so that the runs that stop before training work in both lanes
TORCH_CTC = ["--ctc-loss", "torch", "--methods", "ctc-greedy-search"]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "voxpopuli"
    # 20 train rows, the last without its ogg file (5 %: skipped), 3 dev and 3 test rows
    write_voxpopuli(root, "de", 3, n_train=20, missing=1)
    return root


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_voxpopuli_asr_stages_0_to_5(tmp_path, corpus):
    # Invariant: from VoxPopuli's layout to scored hypotheses of the test split, everything
    # under data/de and exp/de; the text is normalized_text (not raw_text), the speaker
    # speaker_id ("None": no speaker); a row without its ogg file is skipped with a warning
    # naming the count and an example; the LM text is --lm-text normalised without any split
    # sentence; a rerun skips every stage.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    lm_text = tmp_path / "sentences.txt"
    lm_text.write_text("Alpha nummer one\nein neuer Satz.\nein neuer satz\n\ndelta nummer four\n")
    work = copy_recipe("egs/voxpopuli/ASR", tmp_path / "ASR")
    args = ["--corpus-dir", str(corpus), "--lang", "de", "--lm-text", str(lm_text), *TINY]
    out = run_recipe(work, *args)
    assert "test: 1best" in out, out[-2000:]
    seg_dir = corpus / "transcribed_data" / "de"
    assert "1 of the 20 train segments (5.0%) have no ogg file, e.g. " in out
    assert f"{seg_dir}/2020/20200404-0900-PLENARY-3-de_20200404-10:11:09_19.ogg" in out
    man = work / "data" / "de" / "manifests"
    sups = _jsonl_gz(man / "voxpopuli_de_supervisions_train.jsonl.gz")
    assert len(sups) == 19 and sups[0]["id"] == "20190101-0900-PLENARY-0-de_20190101-09:10:00_0"
    assert [s["text"] for s in sups[:2]] == ["alpha nummer one", "bravo charlie nummer two"]
    assert (sups[0]["speaker"], sups[0]["gender"], sups[0]["language"]) == ("100", "male", "de")
    assert "speaker" not in sups[4] and "gender" not in sups[4]  # "None" in the TSV
    recs = _jsonl_gz(man / "voxpopuli_de_recordings_test.jsonl.gz")
    assert len(recs) == 3 and {r["sampling_rate"] for r in recs} == {16000}
    assert recs[0]["sources"][0]["source"] == f"{seg_dir}/{recs[0]['id'][:4]}/{recs[0]['id']}.ogg"
    lm = (work / "data" / "de" / "lm_text" / "de.txt").read_text().splitlines()
    assert lm == ["ein neuer satz"]  # the train sentences are in no extra LM text
    assert (work / "data" / "de" / "lang_char" / "HLG.pt").exists()
    dec = work / "exp" / "de" / "ctc" / "decode"
    for method in ("ctc-greedy-search", "1best", "whole-lattice-rescoring/lm_scale_0.5"):
        score = json.loads((dec / method / "score-test.json").read_text())
        assert {"wer", "words", "ins", "del", "sub"} <= set(score), method
        rows = (dec / method / "hyps-test.jsonl").read_text().splitlines()
        assert len(rows) == 3 and all("ref" in json.loads(r) for r in rows), method
    again = run_recipe(work, *args)
    assert again.count("up to date") == 3 and "trained from these inputs" in again, again
    assert "already decoded" in again and "Stage 5" in again


def test_voxpopuli_too_many_missing_segments_stop_stage_1(tmp_path, corpus):
    # Invariant: more than --max-missing (5 %) of a split without ogg files is an incomplete
    # segmentation: stage 1 stops, naming the directory, an example and the command to rerun,
    # and writes no marker.
    seg_dir = corpus / "transcribed_data" / "de"
    (seg_dir / "2019" / "20190101-0900-PLENARY-0-de_20190101-09:10:00_0.ogg").unlink()
    work = copy_recipe("egs/voxpopuli/ASR", tmp_path / "ASR")
    args = ["--corpus-dir", str(corpus), "--lang", "de", "--stop-stage", "1", *TORCH_CTC]
    err = run_recipe(work, *args, expect_rc=1)
    assert f"{seg_dir}: 2 of the 20 train segments (10.0%) have no ogg file" in err
    assert f"python -m voxpopuli.get_asr_data --root {corpus} --lang de" in err
    assert not (work / "data" / "de" / "manifests" / ".done").exists()
    out = run_recipe(work, *args, "--max-missing", "0.1")  # tolerated when asked for
    assert "2 of the 20 train segments (10.0%)" in out and "skipped" in out


def test_voxpopuli_bad_layout_stops_at_stage_0(tmp_path, corpus):
    # Invariant: a language that is not there, downloaded but not segmented, or without its
    # segments stops before any work, naming the directory and showing the layout and the two
    # voxpopuli commands.
    work = copy_recipe("egs/voxpopuli/ASR", tmp_path / "ASR")

    def fails(*args):
        return run_recipe(work, "--corpus-dir", str(corpus), *args, *TORCH_CTC, expect_rc=1)

    err = fails("--lang", "fr")
    assert f"no VoxPopuli language 'fr' at --corpus-dir {corpus}" in err
    assert f"{corpus}/transcribed_data/fr/<year>/<id>.ogg" in err
    assert f"python -m voxpopuli.download_audios --root {corpus} --subset asr" in err
    (corpus / "raw_audios" / "original").mkdir(parents=True)
    err = fails("--lang", "fr")
    assert "not yet cut into segments; run python -m voxpopuli.get_asr_data" in err
    for year in ("2019", "2020"):
        shutil.rmtree(corpus / "transcribed_data" / "de" / year)
    err = fails("--lang", "de")
    assert f"no segments in {corpus}/transcribed_data/de" in err
    assert "Stage 1" not in err and not (work / "data").exists()
    err = fails("--lang", "de", "--lm-text", "nowhere.txt")
    assert "--lm-text nowhere.txt: no such file" in err
