"""egs/covost2/ST on a fake CoVoST 2 in the real layout (xlsr.testing.fake_corpora.covost2:
Common Voice v4-like clips and covost_v2.<src>_<tgt>.tsv files): stages 0-5 for both
directions with two sources and two targets, the pair manifests, scored BLEU per language
pair, a rerun that skips every stage, a changed target list that leaves x-en alone, and
stage 0's layout messages. The st task needs no k2: every test runs in both lanes."""

import gzip
import json
import shutil
from collections import Counter

import yaml

from xlsr.testing.fake_corpora.covost2 import write_covost2
from xlsr.testing.recipe import copy_recipe, run_recipe

X_EN, EN_X = ["fr", "sv-SE"], ["ca", "zh-CN"]
ARGS = ["--x-en-langs", " ".join(X_EN), "--en-x-langs", " ".join(EN_X), "--num-jobs", "2"]
TINY = ["--encoder-preset", "xlsr_tiny", "--max-update", "3"]
TINY += ["--target-vocab-size", "x-en=60 en-x=80"]


def _jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _tsv(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def _tiny_conf(work):
    """The recipe's conf with a CPU-sized decoder, one batch per update and short decoding
    (the GPU values would take minutes here); every other value as the recipe has it."""
    src = (work / "conf").resolve()
    (work / "conf").unlink()
    shutil.copytree(src, work / "conf")
    train = yaml.safe_load((work / "conf/train_st.yaml").read_text())
    train["train"].update(update_freq=1, global_batch_duration=0.0)  # not 8 batches of it
    st = dict(decoder_embed_dim=128, decoder_layers=2, decoder_attention_heads=4)
    train["st"].update(st, decoder_ffn_embed_dim=256, adaptor_layers=2)
    (work / "conf/train_st.yaml").write_text(yaml.safe_dump(train))
    decode = yaml.safe_load((work / "conf/decode_st.yaml").read_text())
    decode["options"].update(beam=2, max_len_b=8)
    (work / "conf/decode_st.yaml").write_text(yaml.safe_dump(decode))


def _check_pairs(work, covost):
    # x-en: train = CoVoST's train + train_covost rows, dev and test apart; one pair per
    # clip, target = the TSV's translation (unescaped), tgt_lang en; the clip no TSV lists
    # is absent
    man = work / "data" / "manifests"
    rows = {lang: _tsv(covost / f"covost_v2.{lang}_en.tsv") for lang in X_EN}
    for split, theirs in (
        ("train", {"train", "train_covost"}),
        ("dev", {"dev"}),
        ("test", {"test"}),
    ):
        pairs = _jsonl_gz(man / f"st_cuts_{split}_x-en.jsonl.gz")
        want = {
            r["path"].replace(".mp3", "_en"): (lang, r["translation"].replace('\\"', '"'))
            for lang in X_EN
            for r in rows[lang]
            if r["split"] in theirs
        }
        got = {p["id"]: p["supervisions"][0] for p in pairs}
        assert sorted(got) == sorted(want) and len(pairs) == (6 if split == "train" else 4)
        for cut_id, sup in got.items():
            assert (sup["language"], sup["custom"]["target"]) == want[cut_id]
            assert sup["custom"]["tgt_lang"] == "en" and sup["text"] == sup["text"].lower()
    assert not any(
        "sv-SE_101007" in p["id"] for p in _jsonl_gz(man / "st_cuts_train_x-en.jsonl.gz")
    )
    # en-x: each English clip scanned once, one pair per (clip, target)
    for split, n in (("train", 3), ("dev", 2), ("test", 2)):
        recs = _jsonl_gz(man / f"covost2_en-x_recordings_{split}.jsonl.gz")
        assert len({r["id"] for r in recs}) == len(recs) == n
        pairs = _jsonl_gz(man / f"st_cuts_{split}_en-x.jsonl.gz")
        langs = Counter(p["supervisions"][0]["custom"]["tgt_lang"] for p in pairs)
        assert langs == {"ca": n, "zh-CN": n}
        assert {p["recording"]["id"] for p in pairs} == {r["id"] for r in recs}
    zh = _tsv(covost / "covost_v2.en_zh-CN.tsv")[0]
    first = _jsonl_gz(man / "st_cuts_train_en-x.jsonl.gz")[1]["supervisions"][0]
    assert first["custom"]["target"] == zh["translation"] and first["language"] == "en"


def test_covost2_st_stages_0_to_5(tmp_path):
    # Invariant: from the two downloads to BLEU per language pair for x-en and en-x; the
    # target tokenizers tag the targets (zh_CN; ca_XX, which mBART-50 lacks); a rerun
    # skips every stage; new --en-x-langs remake en-x only.
    cv4, covost = tmp_path / "cv4", tmp_path / "covost"
    write_covost2(cv4, covost, X_EN, EN_X, n_per_split=2)
    work = copy_recipe("egs/covost2/ST", tmp_path / "ST")
    _tiny_conf(work)
    args = ["--corpus-dir", str(cv4), "--covost-dir", str(covost), *ARGS, *TINY]
    out = run_recipe(work, *args)
    assert "no encoder pretraining" in out, out[-2000:]
    _check_pairs(work, covost)
    tags = json.loads(
        (work / "data/lang_st_en-x/target_tokenizer/target_tokenizer.json").read_text()
    )
    assert tags["tags"] == {"ca": "ca_XX", "zh-CN": "zh_CN"} and not tags["text_norm"]["lowercase"]
    for direction, pairs in (("x-en", {"fr-en", "sv-SE-en"}), ("en-x", {"en-ca", "en-zh-CN"})):
        for method in ("greedy_search", "beam_search"):
            dec = work / "exp" / f"st_{direction}" / "decode" / method
            score = json.loads((dec / "score-test.json").read_text())
            assert set(score["directions"]) == pairs and score["bleu"] is not None, method
            rows = (dec / "hyps-test.jsonl").read_text().splitlines()
            assert score["utts"] == len(rows) == 4 and score["skipped"]["count"] == 0
    again = run_recipe(work, *args)
    assert again.count("manifests are up to date") == 2 and again.count("is up to date") == 2
    assert again.count("trained from these inputs") == 2 and again.count("already decoded") == 2
    # another target list: en-x's manifests and lang dir are remade, x-en's are kept
    args[args.index("--en-x-langs") + 1] = "ca"
    out = run_recipe(work, *args, "--stop-stage", "2")
    assert "the x-en manifests are up to date" in out and "lang_st_x-en is up to date" in out
    pairs = _jsonl_gz(work / "data/manifests/st_cuts_test_en-x.jsonl.gz")
    assert {p["supervisions"][0]["custom"]["tgt_lang"] for p in pairs} == {"ca"}
    # stage 2 of one direction alone needs only that direction's stage-1 marker
    (work / "data/lang_st_x-en/.lang.done").unlink()
    out = run_recipe(work, *args, "--directions", "x-en", "--stage", "2", "--stop-stage", "2")
    assert "Stage 2: translation pairs and data/lang_st_x-en" in out


def test_covost2_layout_errors_stop_at_stage_0(tmp_path):
    # Invariant: a missing or still packed TSV, or a language without clips, stops before
    # any work, naming the file and showing the layout both downloads must have.
    cv4, covost = tmp_path / "cv4", tmp_path / "covost"
    write_covost2(cv4, covost, X_EN, EN_X, n_per_split=1)
    work = copy_recipe("egs/covost2/ST", tmp_path / "ST")
    args = ["--corpus-dir", str(cv4), "--covost-dir", str(covost), *ARGS]
    tsv = covost / "covost_v2.sv-SE_en.tsv"
    tsv.rename(tsv.with_name(tsv.name + ".tar.gz"))  # not unpacked (its name is enough here)
    err = run_recipe(work, *args, expect_rc=1)
    assert f"{tsv} is still packed: run 'tar -xzf {tsv}.tar.gz -C {covost}'" in err
    tsv.with_name(tsv.name + ".tar.gz").unlink()
    err = run_recipe(work, *args, expect_rc=1)
    assert f"no {tsv}. Expected" in err and f"{covost}/covost_v2.<src>_<tgt>.tsv" in err
    assert f"{cv4}/<lang>/clips/common_voice_<lang>_<n>.mp3" in err and "version 4" in err
    shutil.rmtree(cv4 / "en" / "clips")
    err = run_recipe(work, *args, "--directions", "en-x", expect_rc=1)
    assert f"no {cv4}/en/clips/*.mp3" in err
    err = run_recipe(work, *args, "--x-en-langs", "fr xx", expect_rc=1)
    assert "CoVoST 2 has no xx -> en" in err
    assert "Stage 1" not in err and not (work / "data").exists()
