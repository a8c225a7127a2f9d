"""egs/numbers/ST at a tiny size, in a scratch copy: stages 0-5 for both directions from
nothing (the encoder CTC-pretrained in stage 3), the translation result files with sacrebleu signatures, and a rerun that skips every
finished stage."""

import json
import shutil

import pytest
import torch

from xlsr.models.safe_pickle import torch_load
from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--num-utterances", "120", "--languages", "en,de,fr", "--max-number", "99"]
TINY += ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--target-vocab-size", "60"]
TINY += ["--pretrain-max-update", "3"]


def test_st_recipe_both_directions(tmp_path):
    # Invariant: each direction gets its pairs, lang dir, model and scored decode of every
    # test pair (src_lang / tgt_lang per row; BLEU, chrF and their signatures); a rerun
    # skips all stages.
    pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")
    work = copy_recipe("egs/numbers/ST", tmp_path)
    run_recipe(work, *TINY)
    for direction, targets in (("x-en", {"en"}), ("en-x", {"de", "fr"})):
        pairs = work / "data" / "manifests" / f"st_cuts_test_{direction}.jsonl.gz"
        assert pairs.is_file()
        assert (work / "data" / f"lang_st_{direction}" / "target_tokenizer").is_dir()
        for method in ("greedy_search", "beam_search"):
            out = work / "exp" / f"st_{direction}" / "decode" / method
            score = json.loads((out / "score-test.json").read_text())
            rows = [json.loads(x) for x in (out / "hyps-test.jsonl").read_text().splitlines()]
            assert score["utts"] == len(rows) > 0 and score["skipped"]["count"] == 0
            assert {"bleu", "chrf", "signature"} <= set(score)
            assert "BLEU" in str(score["signature"]) or "nrefs" in str(score["signature"])
            assert {r["tgt_lang"] for r in rows} == targets
    # stage 3 pretrained the encoder (CTC on every language); the st models start from it
    # and keep it frozen (conf/train_st.yaml)
    pretrained = torch_load(work / "exp" / "ctc_src" / "checkpoint-3.pt")
    assert pretrained["config"]["task"] == "asr_ctc"
    for direction in ("x-en", "en-x"):
        state = torch_load(work / "exp" / f"st_{direction}" / "checkpoint-3.pt")
        assert state["config"]["xlsr_checkpoint"] == "exp/ctc_src"
        encoder = {k: v for k, v in state["model"].items() if k.startswith("encoder.")}
        assert encoder and all(torch.equal(v, pretrained["model"][k]) for k, v in encoder.items())
    again = run_recipe(work, *TINY)
    assert again.count("up to date") == 5 and again.count("already decoded") == 2, again
    assert again.count("trained from these inputs") == 3, again
    # stage 4 trains the directions side by side (--train-jobs 2): one that fails stops
    # the recipe naming it and its output, after the other has finished
    for direction in ("x-en", "en-x"):
        shutil.rmtree(work / "exp" / f"st_{direction}")
    (work / "data" / "lang_st_en-x" / "target_tokenizer" / "target.model").write_bytes(b"x")
    out = run_recipe(work, *TINY, "--stage", "4", "--stop-stage", "4", expect_rc=1)
    assert "stage 4 failed for: en-x (exp/log/stage4-en-x-" in out, out
    assert (work / "exp" / "st_x-en" / ".done").is_file()
    assert not (work / "exp" / "st_en-x" / ".done").exists()
