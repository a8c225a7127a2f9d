"""The runner's view of a task's chosen methods: results, fields, scorers and metrics."""

import pytest

from xlsr.tasks.base import Method, Task
from xlsr.tasks.decode_plan import DecodePlan


def _run(ctx, output, frames, options):
    return {"plain": [str(x) for x in output]}


def _variants(ctx, output, frames, options):
    return {f"scaled/{k}": [str(k * x) for x in output] for k in (1, 2)}


def _fields(ctx, output, frames, options):
    return {"plain": [{"top": x, "_secret": -x} for x in output]}


def _words(ctx, output, frames, shift):
    return {"plain": [[{"word": str(x), "start": 0.0, "end": shift}] for x in output]}


def _own_score(ctx, out_dir, test_set, items, options, **kwargs):
    return {"eer": 1.5, "ctx": ctx, "n": len(items), "rule": kwargs["skipped_rule"]}


class Toy(Task):
    name = "plan_toy"
    metric = "error"
    methods = {
        "plain": Method(_run, fields=_fields, word_times=_words),
        "scaled": Method(_variants, score=_own_score, metric="eer"),
    }

    def score(self, out_dir, test_set, items, **kwargs):
        return {"error": 0.0, "by": "task"}


def test_results_fields_scores_and_metrics():
    # Invariant: every chosen method runs on a batch; a result belongs to the method it is
    # named after ("<method>" or "<method>/<variant>"); fields and word times of a result
    # merge per utterance; a method's own score and metric replace the task's.
    plan = DecodePlan(Toy(), ["plain", "scaled"], ctx="C", frame_shift=0.02)
    assert plan.decode_batch([1, 2], None) == {
        "plain": ["1", "2"],
        "scaled/1": ["1", "2"],
        "scaled/2": ["2", "4"],
    }
    assert plan.has_fields
    assert plan.fields([3], None) == {
        "plain": [{"top": 3, "_secret": -3, "words": [{"word": "3", "start": 0.0, "end": 0.02}]}]
    }
    assert plan.method_of("scaled/2") is Toy.methods["scaled"]
    assert (plan.metric("plain"), plan.metric("scaled/1")) == ("error", "eer")
    assert plan.score("plain", "out", "t", [{}]) == {"error": 0.0, "by": "task"}
    own = plan.score("scaled/1", "out", "t", [{}, {}], skipped_rule="deleted")
    assert own == {"eer": 1.5, "ctx": "C", "n": 2, "rule": "deleted"}
    with pytest.raises(ValueError, match="named after none of the methods"):
        plan.method_of("scaledx")
    normalised = DecodePlan(Toy(), ["plain"], normalise=lambda h: h + "!")
    assert normalised.decode_batch([1], None) == {"plain": ["1!"]}
    assert not DecodePlan(Toy(), ["scaled"]).has_fields


def test_checks_run_before_decoding():
    seen = []
    task = Toy()
    task.methods = {"plain": Method(_run, check=lambda utts, options: seen.append(sorted(utts)))}
    DecodePlan(task, ["plain"], options={}).check({"b": {}, "a": {}})
    assert seen == [["a", "b"]]
