"""The decoding methods chosen for one run, as the generic runner
(:mod:`xlsr.tasks.decoding`) uses them: what runs on each batch, what each result adds to
its utterances' items, and how each result is scored.

    DecodePlan.check(utts)                the methods' checks of the test set (Method.check)
    DecodePlan.decode_batch(out, frames, cut_ids)
                                          {result name: [hyp text per utterance]}
    DecodePlan.fields(out, frames, cut_ids)
                                          {result name: [dict per utterance]}: Method.fields
                                          and Method.word_times (as the key "words")
    DecodePlan.method_of(result)          the method that gave a result ("<method>[/...]")
    DecodePlan.metric(result)             Method.metric, else Task.metric
    DecodePlan.score(result, ...)         Method.score, else Task.score

``cut_ids`` (the batch's) reach the methods that ask for them (``Method.cut_ids``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = ["DecodePlan", "batch_decoder"]


def _ids(method, cut_ids: Optional[List[str]]) -> Dict[str, Any]:
    """The keyword arguments a method's ``run`` / ``fields`` take besides the batch."""
    if not method.cut_ids:
        return {}
    return {"cut_ids": None if cut_ids is None else list(cut_ids)}


def batch_decoder(task, ctx, methods: List[str], options) -> Callable:
    """``decode_batch(output, frames, cut_ids=None) -> {result name: [text]}`` running every
    method (``cut_ids``: the batch's, for the methods that read them)."""

    def decode_batch(output, frames, cut_ids: Optional[List[str]] = None) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for m in methods:
            method = task.methods[m]
            out.update(method.run(ctx, output, frames, options, **_ids(method, cut_ids)))
        return out

    return decode_batch


def _merge(into: Dict[str, List[dict]], more: Mapping[str, List[dict]]) -> None:
    """Adds the per-utterance dicts of ``more`` to those of ``into``, result by result."""
    for name, dicts in more.items():
        if name in into:
            into[name] = [{**a, **b} for a, b in zip(into[name], dicts)]
        else:
            into[name] = [dict(d) for d in dicts]


@dataclasses.dataclass
class DecodePlan:
    """The chosen methods of ``task`` with their context and options.

    Attributes:
        task: the :class:`xlsr.tasks.base.Task`.
        methods: the method names, in ``--methods`` order.
        ctx: what ``task.prepare`` returned.
        options: option class -> instance.
        frame_shift: seconds per encoder frame (word times).
        normalise: applied to every hypothesis; the runner sets it for an external model
            of a task whose hypotheses are text (``Task.normalise_external_hyps``, ASR: its
            vocabulary may spell text otherwise than the references), never for labels.
    """

    task: Any
    methods: List[str]
    ctx: Any = None
    options: Mapping[type, Any] = dataclasses.field(default_factory=dict)
    frame_shift: float = 0.02
    normalise: Optional[Callable[[str], str]] = None

    def check(self, utts: Mapping[str, dict]) -> None:
        """Each method's ``check`` of the test set (SystemExit on what it cannot use)."""
        for m in self.methods:
            check = self.task.methods[m].check
            if check is not None:
                check(utts, self.options)

    def decode_batch(self, output, frames, cut_ids=None) -> Dict[str, List[str]]:
        decode = batch_decoder(self.task, self.ctx, self.methods, self.options)
        out = decode(output, frames, cut_ids)
        if self.normalise is None:
            return out
        return {k: [self.normalise(h) for h in v] for k, v in out.items()}

    @property
    def has_fields(self) -> bool:
        chosen = [self.task.methods[m] for m in self.methods]
        return any(m.fields is not None or m.word_times is not None for m in chosen)

    def fields(self, output, frames, cut_ids=None) -> Dict[str, List[dict]]:
        """Per result, one dict per utterance of the batch: the methods' ``fields`` and
        their ``word_times`` (as ``{"words": [...]}``)."""
        out: Dict[str, List[dict]] = {}
        for m in self.methods:
            method = self.task.methods[m]
            if method.fields is not None:
                more = method.fields(
                    self.ctx, output, frames, self.options, **_ids(method, cut_ids)
                )
                _merge(out, more)
            if method.word_times is not None:
                timed = method.word_times(self.ctx, output, frames, self.frame_shift)
                _merge(out, {k: [{"words": w} for w in v] for k, v in timed.items()})
        return out

    def method_of(self, result: str):
        """The :class:`Method` whose results include ``result`` (named ``<method>`` or
        ``<method>/<variant>``); ValueError otherwise."""
        for m in self.methods:
            if result == m or result.startswith(m + "/"):
                return self.task.methods[m]
        raise ValueError(f"result {result!r} is named after none of the methods {self.methods}")

    def metric(self, result: str) -> str:
        return self.method_of(result).metric or self.task.metric

    def score(self, result: str, out_dir, test_set: str, items, **kwargs) -> dict:
        """The result files of ``result`` in ``out_dir`` (its method's ``score``, else the
        task's); the score dict."""
        method = self.method_of(result)
        if method.score is None:
            return self.task.score(out_dir, test_set, items, **kwargs)
        return method.score(self.ctx, out_dir, test_set, items, self.options, **kwargs)
