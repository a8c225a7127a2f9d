"""egs/numbers/ASR/run.sh checks its options up front: a bad one is an error naming it, never
a silent no-op. Nothing here runs a stage's work, so it is quick and needs neither k2 nor
espeak."""

import pytest

from xlsr.testing.recipe import copy_recipe, run_recipe

BAD = [
    (["--stage", "9"], "--stage 9: the last stage is 6"),
    (["--stage", "abc"], "--stage must be a non-negative integer, got 'abc'"),
    (["--stop-stage", "1.5"], "--stop-stage must be a non-negative integer"),
    (["--stop-stage", "7"], "--stop-stage 7: the last stage is 6"),
    # stage 6 (ONNX) is not in the default run (--stop-stage 5): it is asked for explicitly
    (["--stage", "6"], "--stage 6 is after --stop-stage 5"),
    (["--stage", "3", "--stop-stage", "1"], "--stage 3 is after --stop-stage 1"),
    (["stray"], "unexpected argument(s): stray"),
    (["--stage", "1", "data/x"], "unexpected argument(s): data/x"),
    (["--head", "rnnt"], "--head must be one of: ctc transducer (got 'rnnt')"),
    (["--model-type", "word"], "--model-type must be one of: char unigram bpe"),
    (["--per-language", "yes"], "--per-language must be one of: true false"),
    (["--allow-bad-data", "1"], "--allow-bad-data must be one of: true false"),
    (["--max-update", "ten"], "--max-update must be a non-negative integer"),
    (["--lm-scales", "nan"], "--lm-scales must be comma-separated numbers"),
    (["--lm-scales", "0.1,,0.3"], "--lm-scales must be comma-separated numbers"),
    (["--lm-orders", "3,four"], "--lm-orders must be comma-separated orders"),
    (["--methods", "1best,beam"], "--methods: 'beam' is not a method of --head ctc"),
    (["--test-sets", " "], "--test-sets must be names of splits"),
    (
        ["--stage", "5", "--methods", "ctc-greedy-search", "--test-sets", "eval"],
        "no manifest data/manifests/numbers_cuts_eval.jsonl.gz for test set 'eval'",
    ),
]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return copy_recipe("egs/numbers/ASR", tmp_path_factory.mktemp("options"))


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_option_is_an_error_naming_it(recipe, args, message):
    out = run_recipe(recipe, *args, expect_rc=1)
    assert message in out
    assert "Done" not in out


def test_unknown_option_and_help(recipe):
    unknown = run_recipe(recipe, "--no-such-option", "1", expect_rc=2)
    assert "unknown option --no-such-option" in unknown
    help_ = run_recipe(recipe, "--help")
    assert "stage 3: graphs" in help_ and "--allow-bad-data 'false'" in help_
