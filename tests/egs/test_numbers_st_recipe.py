"""egs/numbers/ST at a tiny size, in a scratch copy: stages 0-5 for both directions from
nothing, the translation result files with sacrebleu signatures, and a rerun that skips every
finished stage."""

import json

import pytest

from xlsr.testing.recipe import copy_recipe, run_recipe

TINY = ["--num-utterances", "120", "--languages", "en,de,fr", "--max-number", "99"]
TINY += ["--encoder-preset", "xlsr_tiny", "--max-update", "3", "--target-vocab-size", "60"]


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
    again = run_recipe(work, *TINY)
    assert again.count("up to date") == 4 and again.count("already decoded") == 2, again
