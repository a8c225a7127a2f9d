"""egs/commonvoice/ASR on a fake Common Voice release in the real layout
(xlsr.testing.fake_corpora): stages 0-5 with the tiny encoder on one language, a rerun that
skips every finished stage, a per-language copy made by editing its options block alone,
stage 0's layout message when the clips are missing, and the paper's phone setting
(``--unit phone`` on a fake CPC_audio phone directory, xlsr.testing.fake_corpora.commonvoice_phones)."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlsr.data.text_norm import TextNormalizer
from xlsr.testing.fake_corpora import write_commonvoice
from xlsr.testing.fake_corpora.commonvoice_phones import (
    TEST_LIST,
    train_list_name,
    write_commonvoice_phones,
)
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--num-jobs", "2"]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "cv-corpus"
    clips = write_commonvoice(root, "fr", 3)  # 3 clips per split, 2 more validated only
    # CPC's lists: 1 h = 4 clips, 5 h = 6, test = the last 3; 40 phone ids
    write_commonvoice_phones(tmp_path / "common_voices_splits", "fr", clips)
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


def _lines(path):
    return path.read_text(encoding="utf-8").split()


def test_commonvoice_phone_setting_stages_0_to_5(tmp_path, corpus):
    # Invariant: --unit phone takes its splits from CPC's lists alone (train = the 1 h list,
    # dev = the same list, test = the test list, never a test clip in training), writes each
    # phone as one letter of data/fr_phone1h/phones.txt (unchanged by the text normaliser,
    # so the scored "words" are the phones), and keeps everything apart from a word-level run
    # of the same language: data/fr_phone1h, exp/fr_phone1h.
    pytest.importorskip("k2", reason="k2: the recipe's k2 CTC loss and HLG need the k2 lane")
    work = copy_recipe("egs/commonvoice/ASR", tmp_path / "ASR")
    phone_dir = tmp_path / "common_voices_splits"
    args = ["--corpus-dir", str(corpus), "--lang", "fr", "--unit", "phone"]
    args += ["--phone-dir", str(phone_dir), "--methods", "ctc-greedy-search,1best", *TINY]
    out = run_recipe(work, *args)
    assert "test: PER" in out and "test: 1best" in out, out[-2000:]
    table = dict(
        line.split() for line in (work / "data/fr_phone1h/phones.txt").read_text().splitlines()
    )
    assert len(table) == 40 and TextNormalizer()(" ".join(table)) == " ".join(table)
    phones = {}
    for line in (phone_dir / "fr" / "validated_phones_reduced.txt").read_text().splitlines():
        seq, *ids = line.split()
        phones[seq] = ids
    man = work / "data" / "fr_phone1h" / "manifests"
    lists = {"train": train_list_name(1), "dev": train_list_name(1), "test": TEST_LIST}
    for split, list_name in lists.items():
        sups = _jsonl_gz(man / f"commonvoice_fr_supervisions_{split}.jsonl.gz")
        assert [s["id"] for s in sups] == _lines(phone_dir / "fr" / list_name), split
        for s in sups:
            assert [table[p] for p in s["text"].split()] == phones[s["id"]], s
    assert sups[0]["speaker"].startswith("0000client")  # from the release's TSVs
    score = json.loads(
        (work / "exp/fr_phone1h/ctc/decode/ctc-greedy-search/score-test.json").read_text()
    )
    assert score["words"] == sum(len(phones[s]) for s in _lines(phone_dir / "fr" / TEST_LIST))
    assert (work / "data/fr_phone1h/lang_char/HLG.pt").exists()
    assert not (work / "data" / "fr").exists() and not (work / "exp" / "fr").exists()


def test_commonvoice_phone_setting_checks_stop_early(tmp_path, corpus):
    # Invariant: --unit phone without CPC's phone directory stops in stage 0, naming the
    # directory, the files it needs and the download; a --model-type other than char is
    # refused before any stage.
    work = copy_recipe("egs/commonvoice/ASR", tmp_path / "ASR")
    torch_ctc = ["--ctc-loss", "torch", "--methods", "ctc-greedy-search"]
    missing = tmp_path / "nowhere"
    args = ["--corpus-dir", str(corpus), "--lang", "fr", "--unit", "phone", *torch_ctc]
    err = run_recipe(work, *args, "--phone-dir", str(missing), expect_rc=1)
    assert f"no phone directory {missing}/fr" in err, err[-2000:]
    assert f"{missing}/fr/trainSeqs_1.0_uniform_new_version.txt" in err
    assert "https://dl.fbaipublicfiles.com/cpc_audio/common_voices_splits.tar.gz" in err
    assert "Stage 1" not in err and not (work / "data").exists()
    (tmp_path / "common_voices_splits" / "fr" / TEST_LIST).unlink()
    err = run_recipe(
        work, *args, "--phone-dir", str(tmp_path / "common_voices_splits"), expect_rc=1
    )
    assert f"no {tmp_path}/common_voices_splits/fr/{TEST_LIST}" in err, err[-2000:]
    err = run_recipe(work, *args, "--model-type", "unigram", expect_rc=1)
    assert "--unit phone needs --model-type char" in err and "Stage 0" not in err


def test_commonvoice_phone_setting_skips_missing_clips(tmp_path, corpus):
    # Invariant: a listed clip without its mp3 is skipped and counted; more than
    # --max-missing of a list skipped stops stage 1 naming the list and an example.
    phone_dir = tmp_path / "common_voices_splits" / "fr"
    gone = _lines(phone_dir / train_list_name(1))[1]
    (corpus / "fr" / "clips" / f"{gone}.mp3").unlink()
    script = Path(__file__).parents[2] / "local" / "prepare_commonvoice.py"
    cmd = [sys.executable, str(script), "--unit", "phone", "--corpus-dir", str(corpus)]
    cmd += ["--lang", "fr", "--phone-dir", str(phone_dir), "--output-dir", str(tmp_path / "m")]
    cmd += ["--phones-table", str(tmp_path / "phones.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1 and "1 of 4 clips have no phones or no mp3" in proc.stderr
    assert f"{gone} (no " in proc.stderr and not (tmp_path / "phones.txt").exists()
    proc = subprocess.run([*cmd, "--max-missing", "0.5"], capture_output=True, text=True)
    assert proc.returncode == 0 and "1 of 4 clips skipped" in proc.stderr, proc.stderr[-2000:]
    sups = _jsonl_gz(tmp_path / "m" / "commonvoice_fr_supervisions_train.jsonl.gz")
    assert len(sups) == 3 and gone not in {s["id"] for s in sups}
