"""Decoding any registered task: the options that pick the model and the data (with the
task's method options, generated from their dataclasses), their checks, the test set,
batched encoder runs with a progress bar, and the result files (contracts 3 and 6) with a
summary over methods. ``python -m xlsr.bin.decode --task NAME`` is a thin shell over
:func:`decode_main`.

Which model the options name and loading it (our checkpoints, their averages, exported and
external models) is :mod:`xlsr.tasks.decode_model`; what the chosen methods run and how
their results are scored, :mod:`xlsr.tasks.decode_plan`; what ``--cuts`` holds,
:mod:`xlsr.tasks.decode_inputs`.

Nothing silent (issue 9):
    * every option is checked before any work: single values by argparse (``--avg 0``,
      ``--lm-scales nan``, ``--cuts`` that does not exist ...), the rest by
      :func:`check_common_args`, :func:`parse_methods`, :func:`check_lang_files` and
      :func:`xlsr.tasks.decode_model.resolve_model`, each message naming the option or
      the file;
    * the model and the lang dir are checked before decoding (see
      :mod:`xlsr.tasks.decode_model`), and the test set against the methods
      (``Method.check``) before the model is loaded;
    * every utterance of ``--cuts`` is accounted for: one the data loader could not use
      (unreadable audio, no supervision, audio shorter than the encoder's receptive field ...)
      keeps its row in hyps-<set>.jsonl with ``"skipped": "<reason>"`` and hyp "", and counts
      as all its reference words deleted (``--skipped-utts excluded`` leaves it out instead).

An external model's hypotheses are normalised as the references are where the task's
``normalise_external_hyps`` says so (ASR text, not classifier labels).

Keys of score-<set>.json beyond :func:`xlsr.scoring.results.write_results`' own (``utts``,
``skipped``, ``skipped_rule``):
    model   {"checkpoints": [files whose weights were used], "hashes": [short_hash of each],
             "hash": one short hash of them all, "weights": "checkpoint" | "running_average" |
             "checkpoint_average" | "interval_average" | "exported" | "hf_model" |
             "fairseq_model"} (:func:`xlsr.tasks.decode_model.model_info`)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.scoring.results import SKIPPED_RULES
from xlsr.tasks.base import options_from
from xlsr.tasks.decode_model import (
    HF_KINDS,
    check_external,
    load_chosen_model,
    load_task_model,
    resolve_model,
    weights_dir,
)
from xlsr.tasks.decode_plan import DecodePlan
from xlsr.utils.argtypes import (
    existing_dir,
    existing_file,
    nonneg_int,
    positive_float,
    positive_int,
)
from xlsr.utils.logging import setup_logging

logger = logging.getLogger(__name__)
NOT_DECODED = "not_decoded"  # reason of a cut that no batch delivered nor skipped


# --------------------------------------------------------------------------------- options


def existing_path(text: str) -> str:
    """An argparse ``type``: an existing file or directory."""
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return text


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="the model: an exp dir of xlsr.bin.train (its newest checkpoint, or "
        "--checkpoint / --epoch / --iter), an exported model dir (xlsr.bin.export; it brings "
        "its lang dir), a checkpoint file, a Hugging Face Wav2Vec2ForCTC or "
        "Wav2Vec2ForSequenceClassification dir, a fairseq wav2vec_ctc checkpoint with "
        "dict.ltr.txt beside it or a fairseq wav2vec_classification checkpoint (labels: its "
        "own, else dict.<labels>.txt beside it, else the lang dir's labels.txt) "
        "(default: --exp-dir)",
    )
    p.add_argument(
        "--exp-dir",
        default=None,
        help="the exp dir: its decode/ gets the results (and, without --model, its "
        "checkpoints are decoded); default: --model's directory",
    )
    p.add_argument(
        "--lang-dir",
        default=None,
        type=existing_dir,
        help="the lang dir of the model (tokenizer, text normaliser, graphs); default: an "
        "exported --model's lang/",
    )
    add_test_set_args(p)
    p.add_argument(
        "--checkpoint", default="last", help="last | averaged (running average) | a file"
    )
    p.add_argument(
        "--epoch",
        type=nonneg_int,
        default=0,
        help="decode epoch-N.pt (with --avg K: the mean of epochs N-K+1..N)",
    )
    p.add_argument(
        "--iter",
        type=nonneg_int,
        default=0,
        help="decode checkpoint-N.pt (with --avg K: the mean of it and the K-1 "
        "checkpoint-*.pt before it)",
    )
    p.add_argument("--avg", type=positive_int, default=1)
    p.add_argument(
        "--use-averaged-model",
        action="store_true",
        help="with --epoch/--iter and --avg K: the mean of every weight sample the "
        "trainer took between the K-th earlier checkpoint and this one (icefall)",
    )
    add_scoring_args(p)


def add_test_set_args(p: argparse.ArgumentParser) -> None:
    """``--cuts`` (alias ``--input``) and ``--test-set``: what is decoded (also
    ``xlsr.bin.decode_onnx``'s)."""
    p.add_argument(
        "--cuts",
        "--input",
        dest="cuts",
        nargs="+",
        required=True,
        type=existing_path,
        help="what to decode: a lhotse cut manifest, a Kaldi data dir (wav.scp, optional "
        "text and segments) or audio files and directories (any format soundfile reads, "
        "any sample rate and channels); without references nothing is scored",
    )
    p.add_argument("--test-set", default=None, help="name in output files (default: from --cuts)")


def add_scoring_args(p: argparse.ArgumentParser) -> None:
    """``--max-duration`` (seconds of audio per batch), ``--cer`` and ``--skipped-utts``
    (also ``xlsr.bin.decode_onnx``'s)."""
    p.add_argument("--max-duration", type=positive_float, default=100.0)
    p.add_argument("--cer", action="store_true", help="also score characters (CER)")
    p.add_argument(
        "--skipped-utts",
        choices=SKIPPED_RULES,
        default="deleted",
        help="an utterance the data loader cannot use (unreadable audio ...): "
        "'deleted' scores all its reference words as deletions, 'excluded' leaves "
        "it out of the score; score-<set>.json says which (skipped_rule)",
    )


def parse_methods(spec: str, known: Sequence[str]) -> List[str]:
    """The methods of ``--methods`` (comma-separated); SystemExit naming the option when none
    or an unknown one is given."""
    methods = [m.strip() for m in spec.split(",") if m.strip()]
    if not methods:
        raise SystemExit(f"--methods {spec!r} names no decoding method; choose from {tuple(known)}")
    unknown = sorted(set(methods) - set(known))
    if unknown:
        raise SystemExit(
            f"--methods: unknown decoding methods {unknown}; choose from {tuple(known)}"
        )
    return list(dict.fromkeys(methods))


def check_common_args(args, model_from_exp: bool = True) -> None:
    """Refuses option combinations that would be ignored or cannot work (SystemExit naming
    the options); ``model_from_exp``: the weights come from an exp dir or checkpoint file
    (not --hf-model, an exported or a fairseq model)."""
    if args.epoch > 0 and args.iter > 0:
        raise SystemExit("--epoch and --iter exclude each other: give one")
    picked = args.epoch > 0 or args.iter > 0
    if (args.avg > 1 or args.use_averaged_model) and not picked:
        raise SystemExit("--avg and --use-averaged-model need --epoch N or --iter N")
    if not model_from_exp:
        return
    if picked and args.checkpoint != "last":
        raise SystemExit(f"--checkpoint {args.checkpoint} and --epoch/--iter exclude each other")
    if Path(args.checkpoint).is_dir():
        raise SystemExit(
            f"--checkpoint {args.checkpoint}: a directory, not a checkpoint file (an exp dir, "
            "an exported model dir or a Hugging Face model dir goes to --model; a Hugging "
            "Face dir to --hf-model too)"
        )
    if args.checkpoint not in ("last", "averaged") and not Path(args.checkpoint).is_file():
        raise SystemExit(f"--checkpoint {args.checkpoint}: no such file (or: last, averaged)")
    if args.checkpoint in ("last", "averaged") and not weights_dir(args).is_dir():
        raise SystemExit(
            f"--exp-dir {weights_dir(args)}: no such directory (nothing trained there)"
        )


def check_lang_files(lang_dir, needs: Mapping[Path, str]) -> None:
    """SystemExit naming the first file of ``needs`` (path in the lang dir -> what needs it)
    that ``lang_dir`` lacks, and what makes it."""
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(lang_dir)
    for path, user in needs.items():
        if not Path(path).exists():
            raise SystemExit(
                f"--lang-dir {lang_dir}: no {lang.name(path)} (needed by {user}; "
                f"{lang.maker(path)} makes it)"
            )


# ------------------------------------------------------------------------------ test set


@dataclass
class TestSet:
    """The utterances of a test set, from ``--cuts`` (every one is accounted for)."""

    __test__ = False  # not a pytest test class
    name: str  # in the result file names
    cuts: Path  # the (first) input, for messages
    utts: Dict[str, dict]  # cut id -> {"id", "ref" (normalised), "lang", "duration"}
    source: Any = None  # what the data loader reads: a manifest path or a CutSet
    has_refs: bool = True  # False: transcripts are written, nothing is scored
    #: cut id -> reason, for utterances known to be unusable before decoding
    skipped: Dict[str, str] = dataclasses.field(default_factory=dict)


def name_of_test_set(args) -> str:
    if args.test_set:
        return args.test_set
    first = Path(args.cuts[0] if isinstance(args.cuts, (list, tuple)) else args.cuts)
    return first.resolve().name.split(".")[0].replace("_cuts", "") or "input"


def start_logging(args) -> None:
    """Logs to stderr and EXP_DIR/decode/log/decode-<test_set>.log (appended)."""
    setup_logging(Path(args.exp_dir) / "decode" / "log" / f"decode-{name_of_test_set(args)}.log")


def _utt(cut, reference: Optional[Callable], audio: bool = True) -> dict:
    """The test set entry of a cut (``audio``: False for one whose audio could not be
    opened: no duration)."""
    lang = cut.supervisions[0].language if cut.supervisions else None
    utt = {"id": cut.id, "ref": reference(cut) if reference else "", "lang": lang}
    return {**utt, "duration": float(cut.duration)} if audio else utt


def load_test_set(args, reference: Callable) -> TestSet:
    """Every utterance of ``--cuts`` (a manifest, a Kaldi data dir or audio files: see
    :mod:`xlsr.tasks.decode_inputs`) with its reference (``reference(cut)``: for ASR the
    text normalised as the training targets were; "" without references), language and
    duration."""
    from lhotse import load_manifest_lazy

    from xlsr.tasks.decode_inputs import read_input

    paths = args.cuts if isinstance(args.cuts, (list, tuple)) else [args.cuts]
    try:
        given = read_input(paths)
    except ValueError as e:
        raise SystemExit(f"--cuts {e}") from e
    refs = reference if given.has_refs else None
    utts: Dict[str, dict] = {}
    skipped = {cut.id: reason for cut, reason in given.unreadable}

    def add(cut, audio: bool = True) -> None:
        if cut.id in utts:
            raise SystemExit(f"--cuts {paths[0]}: cut id {cut.id!r} occurs twice")
        utts[cut.id] = _utt(cut, refs, audio)

    if given.kind != "manifest":
        for cut in given.cuts:
            add(cut)
        for cut, _ in given.unreadable:
            add(cut, audio=False)
    else:
        try:
            for cut in load_manifest_lazy(given.cuts):
                add(cut)
        except Exception as e:  # noqa: BLE001 - gzip, JSON, lhotse: all mean "not a manifest"
            raise SystemExit(f"--cuts {paths[0]}: not a readable lhotse cut manifest ({e})") from e
    if not utts:
        raise SystemExit(f"--cuts {paths[0]}: no utterances to decode")
    logger.info(
        "%s: %d utterances in %s (%s%s)",
        name_of_test_set(args),
        len(utts),
        paths[0],
        given.kind,
        "" if given.has_refs else ", no references",
    )
    return TestSet(
        name_of_test_set(args), Path(paths[0]), utts, given.cuts, given.has_refs, skipped
    )


# ----------------------------------------------------------------------------- decoding


@torch.no_grad()
def run_model(model, cuts, max_duration: float) -> Iterator:
    """Yields (cut ids, output (B, T, D), frames (B,), skipped) per batch of ``cuts`` (a
    manifest path or a CutSet): ``skipped`` the (cut id, reason) pairs the data loader could
    not use; B may be 0 (output None then)."""
    from lhotse import load_manifest_lazy

    cfg = DataConfig(
        max_duration=max_duration, min_cut_duration=0.01, max_cut_duration=max_duration
    )
    if isinstance(cuts, (str, Path)):
        cuts = load_manifest_lazy(cuts)
    loader, _ = make_dataloader(cuts, cfg, train=False, require_text=False)
    for batch in tqdm(loader, desc="decode", leave=False):
        if batch["waveforms"].shape[0] == 0:
            yield [], None, None, list(batch["skipped"])
            continue
        out, frames = model(batch["waveforms"], batch["lengths"])
        yield batch["cut_ids"], out, frames, list(batch["skipped"])


def _reasons(skipped: Mapping[str, str]) -> str:
    counts: Dict[str, int] = {}
    for reason in skipped.values():
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{r}={n}" for r, n in sorted(counts.items()))


@dataclass
class Decoded:
    """What decoding a test set gave: per result name, cut id -> hyp (and fields)."""

    hyps: Dict[str, Dict[str, str]]
    skipped: Dict[str, str]  # cut id -> reason
    fields: Dict[str, Dict[str, dict]]  # result name -> cut id -> fields (Method.fields)


def _decode_all(
    model,
    test_set: TestSet,
    max_duration: float,
    decode_batch: Callable,
    fields: Optional[Callable] = None,
) -> Decoded:
    """Every utterance of ``test_set`` decoded (``decode_batch(output, frames, cut_ids)``,
    and ``fields(output, frames, cut_ids)`` where given) or accounted for as skipped."""
    decoded = Decoded({}, dict(test_set.skipped), {})
    source = test_set.source if test_set.source is not None else test_set.cuts
    batches = (
        run_model(model, source, max_duration) if len(test_set.skipped) < len(test_set.utts) else []
    )
    for ids, out, frames, batch_skipped in batches:
        decoded.skipped.update(batch_skipped)
        if not ids:
            continue
        for name, texts in decode_batch(out, frames, ids).items():
            decoded.hyps.setdefault(name, {}).update(zip(ids, texts))
        for name, dicts in (fields(out, frames, ids) if fields else {}).items():
            decoded.fields.setdefault(name, {}).update(zip(ids, dicts))
    done = set().union(*decoded.hyps.values()) if decoded.hyps else set()
    for cut_id in test_set.utts:
        if cut_id not in done and cut_id not in decoded.skipped:
            logger.warning("cut %s: no batch held it, counted as skipped (%s)", cut_id, NOT_DECODED)
            decoded.skipped[cut_id] = NOT_DECODED
    if not decoded.hyps:
        first = list(decoded.skipped)[:5]
        raise SystemExit(
            f"--cuts {test_set.cuts}: all {len(test_set.utts)} utterances were "
            f"skipped ({_reasons(decoded.skipped)}; first {first}); nothing to decode"
        )
    return decoded


def _items(
    test_set: TestSet,
    hyps: Mapping[str, str],
    skipped: Mapping[str, str],
    fields: Optional[Mapping[str, dict]] = None,
) -> List[dict]:
    """One result item per utterance of the test set, in manifest order; a skipped one has
    hyp "" and ``skipped``: its reason; ``fields``: cut id -> the method's fields, merged
    into the item (``words``, word times, only when their count agrees with the
    hypothesis', spelt as the hypothesis)."""
    items = []
    for cut_id, utt in test_set.utts.items():
        item = dict(utt, hyp=hyps.get(cut_id, ""))
        if cut_id in skipped:
            item["skipped"] = skipped[cut_id]
        extra = dict((fields or {}).get(cut_id) or {})
        timed = extra.pop("words", None)
        item.update(extra)
        if timed is not None and len(timed) == len(item["hyp"].split()):
            item["words"] = [dict(w, word=h) for w, h in zip(timed, item["hyp"].split())]
        items.append(item)
    return items


def write_transcripts(out_dir: Path, test_set: str, items: Sequence[Mapping]) -> None:
    """hyps-<test_set>.jsonl (ref "") and transcripts-<test_set>.txt (``id<TAB>text``) of a
    decode without references, sorted by id."""
    import json

    from xlsr.scoring.results import hyp_record
    from xlsr.utils.io import atomic_write_text

    ordered = sorted(items, key=lambda it: it["id"])
    rows = [json.dumps(hyp_record(it, ("words",)), ensure_ascii=False) + "\n" for it in ordered]
    atomic_write_text(out_dir / f"hyps-{test_set}.jsonl", "".join(rows))
    text = "".join(f"{it['id']}\t{it['hyp']}\n" for it in ordered)
    atomic_write_text(out_dir / f"transcripts-{test_set}.txt", text)


def decode_and_score(
    args, model, plan: DecodePlan, test_set: TestSet, info: Optional[dict] = None
) -> Dict[str, dict]:
    """Decodes ``test_set`` with the methods of ``plan`` and writes, per result,
    EXP_DIR/decode/<result>/{hyps,score,...}-<test_set>.* (every utterance accounted for,
    ``info`` as the score files' ``model``) and the summaries (:func:`_summaries`). Returns
    the scores by result. Without references it writes hyps-<test_set>.jsonl and
    transcripts-<test_set>.txt per result instead, and returns {}."""
    out_dir = Path(args.exp_dir) / "decode"
    fields = plan.fields if plan.has_fields else None
    decoded = _decode_all(model, test_set, args.max_duration, plan.decode_batch, fields)
    skipped = decoded.skipped
    rule = getattr(args, "skipped_utts", "deleted")
    note = f"{len(skipped)} of {len(test_set.utts)} utterances skipped"
    if not test_set.has_refs:
        for name, by_id in decoded.hyps.items():
            items = _items(test_set, by_id, skipped, decoded.fields.get(name))
            write_transcripts(out_dir / name, test_set.name, items)
        logger.info(
            "%s: no references in %s, not scored; transcripts of %s (%s) in %s/<method>/",
            test_set.name,
            test_set.cuts,
            list(decoded.hyps),
            note,
            out_dir,
        )
        return {}
    scores: Dict[str, dict] = {}
    note += f" ({_reasons(skipped)})" if skipped else ""
    for name, by_id in decoded.hyps.items():
        by_cut = decoded.fields.get(name, {})
        public = sorted({k for d in by_cut.values() for k in d if not k.startswith("_")})
        scores[name] = plan.score(
            name,
            out_dir / name,
            test_set.name,
            _items(test_set, by_id, skipped, by_cut),
            cer=args.cer,
            skipped_rule=rule,
            info={"model": info} if info else None,
            **({"extra_fields": public} if public else {}),
        )
    _summaries(out_dir, test_set.name, plan, scores, note, bool(skipped))
    return scores


def _summaries(
    out_dir: Path, test_set: str, plan: DecodePlan, scores, note: str, skipped: bool
) -> None:
    """EXP_DIR/decode/summary-<test_set>.txt ranks the results by the first result's metric
    (``Method.metric``, else ``Task.metric``); results of another metric (e.g. ``eer`` of
    verification beside ``error``) go to summary-<metric>-<test_set>.txt. A result without
    its metric (e.g. no EER without target and non-target trials) is left out, with a
    warning. ``note`` (the skipped utterances) gets the scores' ``skipped_rule`` where
    ``skipped``."""
    from xlsr.scoring.results import write_summary

    rows: Dict[str, List[dict]] = {}
    for name, score in scores.items():
        metric, value = plan.metric(name), score.get(plan.metric(name))
        if value is None:
            logger.warning("%s %s: no %s, not in the summary", test_set, name, metric)
            continue
        rows.setdefault(metric, []).append({"method": name, metric: value})
        logger.info("%s %s: %s %.2f%% (%s)", test_set, name, metric.upper(), value, note)
    for n, (metric, metric_rows) in enumerate(rows.items()):
        rules = sorted({str(scores[r["method"]].get("skipped_rule")) for r in metric_rows})
        said = f"{note}, scored as {'/'.join(rules)}" if skipped else note
        file = f"summary-{test_set}.txt" if n == 0 else f"summary-{metric}-{test_set}.txt"
        best = write_summary(out_dir / file, metric_rows, metric, said)
        logger.info(
            "best for %s: %s (%s %.2f%%; %s)",
            test_set,
            best["method"],
            metric.upper(),
            best[metric],
            said,
        )


# ------------------------------------------------------------------------- frame shift


def frame_shift(model) -> float:
    """Seconds per encoder frame: the product of the conv strides over 16 kHz (0.02 s)."""
    return model.encoder.cfg.samples_per_frame / DataConfig().sample_rate


# ------------------------------------------------------------------------------ entry point


def parse_args(argv: Optional[List[str]], task, description: str) -> argparse.Namespace:
    """Common options, ``--methods``, ``--config`` and the task's method options."""
    from xlsr.tasks.base import task_names
    from xlsr.utils import config as C

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--task", default=task.name, choices=task_names(), help="the task to decode")
    p.add_argument(
        "--config",
        type=existing_file,
        default=None,
        help=f"YAML with 'methods' and 'options' (conf/decode_{task.name}.yaml)",
    )
    add_common_args(p)
    p.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated, of {list(task.methods)} (default: --config's, "
        f"else {','.join(task.default_methods)})",
    )
    p.add_argument(
        "--hf-model",
        type=existing_dir,
        default=None,
        help="decode a Hugging Face model directory instead of EXP_DIR's "
        "checkpoints (asr_ctc: Wav2Vec2ForCTC, lang dir from local/prepare_lang_hf.py; "
        "lid / sid: Wav2Vec2ForSequenceClassification, labels from its id2label; "
        "--model takes it too)",
    )
    for cls in task.option_classes():
        C.add_dataclass_args(p, cls)
    return p.parse_args(argv)


def resolve_options(args, task, yaml_cfg: Mapping[str, Any]) -> Tuple[List[str], Dict[type, Any]]:
    """(methods, {option class: instance}) from the command line over ``--config``'s YAML
    over the defaults; SystemExit naming the option or YAML key that is wrong."""
    from xlsr.utils import config as C

    given = dict(yaml_cfg.get("options") or {})
    classes = task.option_classes()
    known = {f.name for cls in classes for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise SystemExit(
            f"--config {args.config}: unknown options {unknown}; known: {sorted(known)}"
        )
    spec = args.methods if args.methods is not None else yaml_cfg.get("methods")
    if isinstance(spec, (list, tuple)):
        spec = ",".join(map(str, spec))
    if spec is None:
        spec = ",".join(task.default_methods)
    methods = parse_methods(spec, list(task.methods))
    options = {}
    try:
        for cls in classes:
            names = {f.name for f in dataclasses.fields(cls)}
            options[cls] = C.from_args(cls, args, {k: v for k, v in given.items() if k in names})
    except (TypeError, ValueError) as e:
        raise SystemExit(f"decode options: {e}") from e
    return methods, options


def _check_k2(task, methods: List[str]) -> None:
    from xlsr.graph.k2_utils import has_k2

    needs = [m for m in methods if task.methods[m].needs_k2]
    if needs and not has_k2():
        raise SystemExit(
            f"--methods: {needs} need k2, which is not installed (use the k2 lane, .venv/); "
            f"without k2: {[m for m in task.methods if not task.methods[m].needs_k2]}"
        )


def decode_main(argv: Optional[List[str]], task, description: str) -> int:
    """Checks every option, the lang dir and the model, then decodes and scores ``--cuts``
    with each method (see :func:`decode_and_score`)."""
    from xlsr.utils import config as C

    args = parse_args(argv, task, description)
    yaml_cfg = C.load_yaml(args.config) if args.config else {}
    methods, options = resolve_options(args, task, yaml_cfg)
    kind = resolve_model(args)
    fairseq = check_external(args, task, kind)
    args.exported = args.model if kind == "exported" else None
    external = kind in HF_KINDS or fairseq is not None
    check_common_args(args, model_from_exp=not external and kind != "exported")
    check_lang_files(args.lang_dir, task.lang_files(args.lang_dir, methods, external))
    _check_k2(task, methods)
    start_logging(args)
    test_set = load_test_set(args, task.reference(args.lang_dir))
    DecodePlan(task, methods, options=options).check(test_set.utts)
    model, info = load_chosen_model(args, task, kind, fairseq)
    fairseq = None  # a fairseq checkpoint's tensors are in the model now
    ctx = task.prepare(model, args.lang_dir, methods, options)
    plan = DecodePlan(task, methods, ctx, options, frame_shift(model))
    # an external vocabulary may spell text otherwise than the references (ASR); the task
    # says whether its hypotheses are such text (classifier labels are not)
    if external and task.normalise_external_hyps:
        from xlsr.data.text_norm import TextNormalizer

        plan.normalise = TextNormalizer.load(args.lang_dir)
    runner = task.decoding_model(model, methods, options)  # e.g. several views per utterance
    decode_and_score(args, runner, plan, test_set, info)
    return 0


def load_decoder(task, exp_dir, lang_dir, methods: List[str], checkpoint: str = "last", **values):
    """For scripts and benchmarks: (model in eval mode, the methods' context, options) of the
    newest (or ``checkpoint``) model in ``exp_dir``; ``values`` set method options."""
    args = argparse.Namespace(
        exp_dir=str(exp_dir),
        lang_dir=str(lang_dir),
        checkpoint=checkpoint,
        epoch=0,
        iter=0,
        avg=1,
        use_averaged_model=False,
    )
    options = options_from(values, task.option_classes())
    model, _ = load_task_model(args, task)
    return model, task.prepare(model, lang_dir, methods, options), options
