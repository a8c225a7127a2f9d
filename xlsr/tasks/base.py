"""What a task is: the one extension point of the toolkit.

A task module (``xlsr/tasks/<name>.py``) subclasses :class:`Task`, fills in its class
attributes and methods, and registers an instance with :func:`register`. The generic entry
points ``python -m xlsr.bin.train --task NAME`` and ``python -m xlsr.bin.decode --task NAME``
then train and decode it: every option comes from the task's dataclasses.

    attribute / method        what it gives
    name                      the registry key ("asr_ctc"); also config.yaml's "task"
    section                   YAML section and option prefix of ``config_cls`` ("ctc": --ctc-*)
    config_cls                the model (head) config dataclass
    model_cls                 a ``xlsr.models.base.TaskModel`` subclass
    arch_fields               fields of ``config_cls`` that shape the parameters
    ctc_feasible              drop training cuts with more tokens than frames (CTC)
    require_text              skip cuts with an empty transcript (ASR, ST; not LID / SID)
    methods                   decoding methods: name -> :class:`Method` (run, configs,
                              lang_files, needs_k2, word_times, fields, score, metric, check)
    default_methods           what ``decode`` runs without ``--methods``
    lang_values(targets)            model config values the lang dir fixes (vocab_size)
    run_facts(targets)              lang dir facts config.yaml records (tokens_hash)
    check_cuts(cuts, targets, data_cfg, name)  the task's checks of a training manifest
    feasibility_encode(targets)     text -> ids for the CTC feasibility filter
    build_model(encoder, cfg)       the model
    targets(lang_dir)               cut -> training target (picklable)
    loss(model, batch)              the trainer's (summed loss, info)
    prepare(model, lang_dir, methods, options)  what the methods need (tokenizer, graphs)
    decoding_model(model, methods, options)     what runs on each batch (default: the model)
    lang_files(lang_dir, methods, external)  lang dir files the methods need (checked up front)
    check_lang(lang_dir, cfg, run, source)      refuse a lang dir that does not fit the model
    reference(lang_dir)             cut -> reference string for scoring
    load_external(path, lang_dir, checkpoint=None)  (model, info) of an external model, where
                                    the task has one: a Hugging Face dir (--hf-model /
                                    --model), or a fairseq checkpoint read into ``checkpoint``
    normalise_external_hyps         normalise an external model's hypotheses as the
                                    references (True: ASR text; False: lid / sid labels)
    model_files                     lang dir files kept next to the model: copied into the
                                    exp dir by training and into exports (lid / sid: labels.txt)
    metric                          the score key summaries rank by ("wer"; a method may
                                    have its own: ``Method.metric``)
    score(out_dir, test_set, items, ...)        result files (DESIGN.md contract 3) of the
                                    methods without their own ``Method.score``
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Type, Union

Pathlike = Union[str, Path]


@dataclasses.dataclass(frozen=True)
class Method:
    """One decoding method.

    A method's results are named by the method (``"argmax"``) or ``<method>/<variant>``
    (``"nbest-rescoring/0.5"``): the runner finds a result's method by its name.

    Attributes:
        run: ``run(ctx, output, frames, options) -> {result name: [text per utterance]}``;
            ``ctx`` is what :meth:`Task.prepare` returned, ``options`` maps each config
            class to its instance.
        configs: the option dataclasses it reads (their fields become decode options).
        lang_files: files of the lang dir it needs, as ``xlsr.graph.lang_dir.LangDir``
            attribute names ("HLG", "words", "rescore_G" ...), checked before any work.
        needs_k2: whether it runs only with k2.
        word_times: optional ``fn(ctx, output, frames, frame_shift) -> {result name: [word
            times per utterance]}`` (``[{"word", "start", "end"}]``, seconds): the field
            ``words`` of the hyps files (kept where it has one entry per hypothesis word).
        fields: optional ``fn(ctx, output, frames, options) -> {result name: [dict per
            utterance]}``: keys merged into each utterance's result item. A key that starts
            with ``_`` reaches only the scorer (e.g. an embedding); the others are written to
            the hyps files too (e.g. ``top``).
        score: optional ``fn(ctx, out_dir, test_set, items, options, **kwargs) -> score
            dict``: the method's own result files (default: :meth:`Task.score`).
        metric: the score key that summaries rank this method's results by (default:
            ``Task.metric``; a percentage or cost, lower is better).
        check: optional ``fn(utts, options)``: refuses (SystemExit naming the option or
            file) inputs the method cannot use, before the model is loaded; ``utts``: cut id
            -> the test set's entry (``id``, ``ref``, ``duration`` ...).
        cut_ids: ``run`` and ``fields`` also get the batch's cut ids (keyword ``cut_ids``),
            e.g. to decode each utterance into its own target language (st).
    """

    run: Callable[..., Dict[str, List[str]]]
    configs: Tuple[type, ...] = ()
    lang_files: Tuple[str, ...] = ()
    needs_k2: bool = False
    word_times: Optional[Callable[..., Dict[str, list]]] = None
    fields: Optional[Callable[..., Dict[str, List[dict]]]] = None
    score: Optional[Callable[..., dict]] = None
    metric: Optional[str] = None
    check: Optional[Callable[..., None]] = None
    cut_ids: bool = False


class Task:
    """Base of every task (see the module docstring for the protocol)."""

    name: ClassVar[str] = ""
    section: ClassVar[str] = ""
    config_cls: ClassVar[type]
    model_cls: ClassVar[type]
    arch_fields: ClassVar[Tuple[str, ...]] = ()
    ctc_feasible: ClassVar[bool] = False
    require_text: ClassVar[bool] = True
    metric: ClassVar[str] = "wer"  # the score key summaries rank by (a percentage, lower is better)
    methods: ClassVar[Dict[str, Method]] = {}
    default_methods: ClassVar[Tuple[str, ...]] = ()
    #: an external model's vocabulary may spell text otherwise than the references (ASR): its
    #: hypotheses are normalised as the references are; False where they are labels
    normalise_external_hyps: ClassVar[bool] = True
    model_files: ClassVar[Tuple[str, ...]] = ()

    def lang_values(self, targets) -> Dict[str, Any]:
        """Model config values that the lang dir fixes (e.g. ``vocab_size``), from the task's
        ``targets(lang_dir)``; YAML and command-line values come on top."""
        return {}

    def build_model(self, encoder, cfg):
        return self.model_cls(encoder, cfg)

    def targets(self, lang_dir: Pathlike) -> Callable:
        raise NotImplementedError

    def run_facts(self, targets) -> Dict[str, Any]:
        """Facts of the lang dir to record in config.yaml (e.g. ``tokens_hash``): decoding
        and resuming check them."""
        return {}

    def check_cuts(self, cuts, targets, data_cfg, name: str):
        """The training cuts after the task's own checks (ASR: unknown symbols reported or
        dropped); default: all of them."""
        return cuts

    def feasibility_encode(self, targets) -> Optional[Callable[[str], List[int]]]:
        """text -> token ids for the CTC feasibility filter (``ctc_feasible`` tasks)."""
        return None

    def loss(self, model, batch):
        raise NotImplementedError

    def prepare(self, model, lang_dir: Pathlike, methods: List[str], options: Mapping[type, Any]):
        return {}

    def decoding_model(self, model, methods: List[str], options: Mapping[type, Any]):
        """What decoding runs on each batch, ``(waveforms, lengths) -> (output, frames)``:
        the model itself by default (a task may wrap it, e.g. to merge several views)."""
        return model

    def lang_files(
        self, lang_dir: Pathlike, methods: List[str], external: bool = False
    ) -> Dict[Path, str]:
        """Files of the lang dir that decoding ``methods`` needs (path -> who needs it);
        ``external``: the model comes from ``--hf-model``."""
        from xlsr.graph.lang_dir import LangDir

        lang = LangDir(lang_dir)
        return {getattr(lang, f): m for m in methods for f in self.methods[m].lang_files}

    def check_lang(self, lang_dir: Pathlike, cfg, run_config: Mapping[str, Any], source: str):
        """Refuses (SystemExit) a lang dir that does not fit the model (ASR: its tokens)."""

    def reference(self, lang_dir: Pathlike) -> Callable:
        """``cut -> reference string`` for scoring (ASR: the normalised transcript)."""
        raise NotImplementedError

    def load_external(self, path: Pathlike, lang_dir: Pathlike, checkpoint=None):
        """(model, info) of a model from elsewhere: a Hugging Face dir (``--hf-model``, or
        ``--model``), or with ``checkpoint`` (the contents of the file ``path``, which the
        runner has read) a fairseq checkpoint; tasks that read none refuse."""
        raise SystemExit(f"--hf-model: the task {self.name} decodes no external models")

    def score(self, out_dir: Pathlike, test_set: str, items, **kwargs) -> dict:
        raise NotImplementedError

    def option_classes(self) -> List[type]:
        """The decode option dataclasses of all methods, each once, in method order."""
        seen: List[type] = []
        for method in self.methods.values():
            seen += [c for c in method.configs if c not in seen]
        return seen


_REGISTRY: Dict[str, Task] = {}


def register(task: Task) -> Task:
    """Adds ``task`` to the registry under ``task.name`` (a name is registered once)."""
    if not task.name:
        raise ValueError(f"{type(task).__name__}: a task needs a name")
    if task.name in _REGISTRY and type(_REGISTRY[task.name]) is not type(task):
        raise ValueError(
            f"task {task.name!r} is already registered ({type(_REGISTRY[task.name]).__name__})"
        )
    _REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task ``name``; ValueError listing the known ones otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def task_names() -> List[str]:
    return sorted(_REGISTRY)


#: config.yaml files written before tasks existed name the head instead
LEGACY_HEADS: Dict[str, str] = {"ctc": "asr_ctc", "transducer": "asr_transducer"}


def task_of_run(run_config: Mapping[str, Any]) -> str:
    """The task name a run config (config.yaml / a checkpoint's ``config``) records."""
    if run_config.get("task"):
        return str(run_config["task"])
    return LEGACY_HEADS.get(str(run_config.get("head", "ctc")), str(run_config.get("head")))


def options_from(values: Mapping[str, Any], classes: List[Type]) -> Dict[type, Any]:
    """One instance per option class from a flat ``values`` dict (unknown keys ignored)."""
    out = {}
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        out[cls] = cls(**{k: v for k, v in values.items() if k in names})
    return out


SAMPLE_RATE = 16000


def batch_loss(model, batch: Mapping[str, Any], empty_targets: Any):
    """Runs ``model(waveforms, lengths, targets) -> (loss, info)`` on a batch of
    :func:`xlsr.data.dataset.make_dataloader` (``supervisions["targets"]``): the trainer's
    ``loss_fn`` for every task whose model computes its loss in ``forward``.

    ``model`` may be wrapped in DDP or sharded by FSDP. A batch whose cuts were all skipped
    (bad audio) still runs the model, on one second of silence with ``empty_targets``, and
    returns that loss times 0 with zero counters: every rank then takes part in the same
    gradient reductions.
    """
    import torch

    core = model.module if hasattr(model, "module") else model
    device = next(core.parameters()).device
    wav, lengths = batch["waveforms"], batch["lengths"]
    targets = batch["supervisions"]["targets"]
    empty = wav.shape[0] == 0
    if empty:
        wav, lengths, targets = (
            torch.zeros(1, SAMPLE_RATE),
            torch.tensor([SAMPLE_RATE]),
            empty_targets,
        )
    loss, info = model(wav.to(device), lengths.to(device), targets)
    if empty:
        return loss * 0.0, {k: 0.0 for k in info}
    info["audio_seconds"] = float(lengths.sum()) / SAMPLE_RATE
    return loss, info
