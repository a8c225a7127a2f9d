"""Decoding any registered task: the options that pick the model and the data (with the
task's method options, generated from their dataclasses), their checks, the model weights
(last / running average / epoch average / a file), batched encoder runs with a progress bar,
and the result files (contracts 3 and 6) with a summary over methods.
``python -m xlsr.bin.decode --task NAME`` is a thin shell over :func:`decode_main`.

Nothing silent (issue 9):
    * every option is checked before any work: single values by argparse (``--avg 0``,
      ``--lm-scales nan``, ``--cuts`` that does not exist ...), the rest by
      :func:`check_common_args`, :func:`parse_methods` and :func:`check_lang_files`, each
      message naming the option or the file;
    * a ``--checkpoint`` that is not a checkpoint of ``xlsr.bin.train --task <task>`` (a fairseq file,
      an encoder-only file, another task's model, weights that do not fit) is refused with one
      message naming the file, what it is and what the command needs;
    * a lang dir whose token table does not match the model's is refused before decoding
      (:func:`check_lang_dir`);
    * the log says which checkpoint file(s) the weights come from, and which unreadable ones
      were passed over; score files record them (``model``, below);
    * every utterance of ``--cuts`` is accounted for: one the data loader could not use
      (unreadable audio, no supervision, audio shorter than the encoder's receptive field ...)
      keeps its row in hyps-<set>.jsonl with ``"skipped": "<reason>"`` and hyp "", and counts
      as all its reference words deleted (``--skipped-utts excluded`` leaves it out instead).

Keys of score-<set>.json beyond :func:`xlsr.scoring.results.write_results`' own (``utts``,
``skipped``, ``skipped_rule``):
    model   {"checkpoints": [files whose weights were used], "hashes": [short_hash of each],
             "hash": one short hash of them all, "weights": "checkpoint" | "running_average" |
             "checkpoint_average" | "interval_average" | "hf_model"}
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.tasks.base import options_from, task_of_run
from xlsr.train import checkpoint as ckpt
from xlsr.utils.argtypes import (
    existing_dir,
    existing_file,
    nonneg_int,
    positive_float,
    positive_int,
)
from xlsr.utils.fingerprint import short_hash
from xlsr.utils.logging import setup_logging

logger = logging.getLogger(__name__)
SKIPPED_RULES = ("deleted", "excluded")
NOT_DECODED = "not_decoded"  # reason of a cut that no batch delivered nor skipped


# --------------------------------------------------------------------------------- options


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--lang-dir", required=True, type=existing_dir)
    p.add_argument(
        "--cuts", required=True, type=existing_file, help="lhotse manifest of the test set"
    )
    p.add_argument("--test-set", default=None, help="name in output files (default: from --cuts)")
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
    the options); ``model_from_exp``: the weights come from --exp-dir (not --hf-model)."""
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
            f"--checkpoint {args.checkpoint}: a directory, not a checkpoint file (an exp dir "
            "goes to --exp-dir; a Hugging Face CTC model dir to --hf-model)"
        )
    if args.checkpoint not in ("last", "averaged") and not Path(args.checkpoint).is_file():
        raise SystemExit(f"--checkpoint {args.checkpoint}: no such file (or: last, averaged)")
    if args.checkpoint in ("last", "averaged") and not Path(args.exp_dir).is_dir():
        raise SystemExit(f"--exp-dir {args.exp_dir}: no such directory (nothing trained there)")


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
    """The utterances of a test set, from its manifest (every one is accounted for)."""

    __test__ = False  # not a pytest test class
    name: str  # in the result file names
    cuts: Path  # the manifest
    utts: Dict[str, dict]  # cut id -> {"id", "ref" (normalised), "lang", "duration"}


def name_of_test_set(args) -> str:
    return args.test_set or Path(args.cuts).name.split(".")[0].replace("_cuts", "")


def start_logging(args) -> None:
    """Logs to stderr and EXP_DIR/decode/log/decode-<test_set>.log (appended)."""
    setup_logging(Path(args.exp_dir) / "decode" / "log" / f"decode-{name_of_test_set(args)}.log")


def load_test_set(args, reference: Callable) -> TestSet:
    """Every cut of ``--cuts`` with its reference (``reference(cut)``: for ASR the text
    normalised as the training targets were), language and duration."""
    from lhotse import load_manifest_lazy

    utts: Dict[str, dict] = {}
    try:
        for cut in load_manifest_lazy(args.cuts):
            if cut.id in utts:
                raise SystemExit(f"--cuts {args.cuts}: cut id {cut.id!r} occurs twice")
            lang = cut.supervisions[0].language if cut.supervisions else None
            utts[cut.id] = {
                "id": cut.id,
                "ref": reference(cut),
                "lang": lang,
                "duration": float(cut.duration),
            }
    except Exception as e:  # noqa: BLE001 - gzip, JSON, lhotse: all mean "not a manifest"
        raise SystemExit(f"--cuts {args.cuts}: not a readable lhotse cut manifest ({e})") from e
    if not utts:
        raise SystemExit(f"--cuts {args.cuts}: the manifest has no cuts")
    logger.info("%s: %d utterances in %s", name_of_test_set(args), len(utts), args.cuts)
    return TestSet(name_of_test_set(args), Path(args.cuts), utts)


# ------------------------------------------------------------------------- checkpoints


def _chosen(exp: Path, args) -> List[Path]:
    """The --epoch/--iter checkpoint and the --avg earlier ones of its kind, oldest first
    (for --use-averaged-model one more: the start of the interval, where one exists)."""
    kind, n = ("epoch", args.epoch) if args.epoch > 0 else ("checkpoint", args.iter)
    found = ckpt.list_checkpoints(exp, kind)  # sorted by their number
    names = [p.name for p in found]
    if f"{kind}-{n}.pt" not in names:
        raise SystemExit(
            f"{exp}: no {kind}-{n}.pt (--{'epoch' if kind == 'epoch' else 'iter'} {n})"
        )
    found = found[: names.index(f"{kind}-{n}.pt") + 1]
    want = args.avg + 1 if args.use_averaged_model else args.avg
    if len(found) < args.avg:
        raise SystemExit(
            f"{exp}: --avg {args.avg} needs {args.avg} {kind}-*.pt up to "
            f"{kind}-{n}.pt, found {[p.name for p in found]}"
        )
    return found[-want:]


def _read(path: Path) -> Any:
    """The object in a checkpoint file; SystemExit naming it when it cannot be read."""
    from xlsr.models.safe_pickle import torch_load

    try:
        return ckpt.load_checkpoint(path)
    except RuntimeError as first:
        try:  # fairseq files pickle omegaconf / fairseq objects: read them as records
            return torch_load(path)
        except Exception:  # noqa: BLE001
            raise SystemExit(str(first)) from first


def _latest(exp: Path) -> Tuple[Path, dict]:
    """The readable checkpoint-*.pt / epoch-*.pt with the most updates, and its contents;
    unreadable (truncated) ones are named, never passed over silently."""
    best, state, broken = ckpt.newest_readable(exp)
    names = [p.name for p in broken]
    if best is None:
        extra = f"; unreadable: {names}" if broken else ""
        raise SystemExit(f"{exp}: no readable checkpoint-*.pt or epoch-*.pt to decode{extra}")
    if broken:
        logger.warning("decoding %s (update %d), the newest readable checkpoint; unreadable: %s",
                       best, state["trainer"]["update"], names)  # fmt: skip
    return best, state


def _fairseq_kind(path: Path, obj: dict, task: str) -> str:
    """What a fairseq checkpoint is, and what to do with it instead."""
    from xlsr.models.safe_pickle import to_plain

    cfg, args = to_plain(obj.get("cfg")), to_plain(obj.get("args"))
    arch = ""
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):
        arch = str(cfg["model"].get("_name") or "")
    elif isinstance(args, dict):
        arch = str(args.get("arch") or "")
    keys = obj["model"] if isinstance(obj.get("model"), dict) else {}
    tune = (
        f"its encoder can be fine-tuned with xlsr.bin.train --task {task} --xlsr-checkpoint {path}"
    )
    if "ctc" in arch or "w2v_encoder.proj.weight" in keys:
        return (
            f"a fairseq fine-tuned CTC checkpoint ({arch or 'wav2vec_ctc'}); {tune} (fairseq "
            "CTC models are not decoded directly; --task asr_ctc --hf-model decodes a Hugging "
            "Face Wav2Vec2ForCTC directory)"
        )
    if any(str(k).startswith("w2v_encoder.") for k in keys):
        return f"a fairseq fine-tuned checkpoint ({arch or 'unknown architecture'}); {tune}"
    return f"a fairseq {arch or 'wav2vec 2.0'} pretraining checkpoint (an encoder only); {tune}"


def _what_else(path: Path, obj: Any, task: str) -> Optional[str]:
    """None for a checkpoint of our trainer; else what the file is (for the message)."""
    from xlsr.models.checkpoint import OUR_FORMAT

    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}, not a checkpoint dict"
    if obj.get("format") == OUR_FORMAT:
        return (
            f"an encoder-only checkpoint (xlsr.save_encoder format, no {task} head); to "
            f"fine-tune it: xlsr.bin.train --task {task} --xlsr-checkpoint {path}"
        )
    if "model" in obj and ("cfg" in obj or "args" in obj) and "config" not in obj:
        return _fairseq_kind(path, obj, task)
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return f"a bare state dict of {len(obj)} tensors (e.g. {next(iter(obj))!r}), no config"
    if not isinstance(obj.get("model"), dict) or not isinstance(obj.get("config"), dict):
        return f"not a training checkpoint (top-level keys {sorted(map(str, obj))[:8]})"
    return None


def _checked(path: Path, obj: Any, task: Optional[str]) -> dict:
    """``obj`` when it is a checkpoint of ``xlsr.bin.train --task <task>``; else SystemExit
    naming the file, what it is and what the command needs."""
    name = task or "asr_ctc"
    kind = _what_else(path, obj, name)
    if kind is not None:
        raise SystemExit(
            f"{path}: {kind}. xlsr.bin.decode --task {name} needs a checkpoint of "
            f"xlsr.bin.train --task {name} (EXP_DIR/checkpoint-N.pt, epoch-N.pt or "
            "averaged.pt), or just --exp-dir EXP_DIR"
        )
    other = task_of_run(obj["config"])
    if task is not None and other != task:
        raise SystemExit(
            f"{path}: a model of the task {other}, not {task}; decode it with --task {other}"
        )
    return obj


def _pick(args) -> Tuple[List[Path], str, Optional[dict]]:
    """(checkpoint files, how their weights combine, the contents of the last if loaded)."""
    exp = Path(args.exp_dir)
    if args.epoch > 0 or args.iter > 0:
        paths = _chosen(exp, args)
        if args.use_averaged_model:
            return paths, "interval_average", None
        return paths, "checkpoint_average" if len(paths) > 1 else "checkpoint", None
    if args.checkpoint == "averaged":
        if (exp / "averaged.pt").exists():
            return [exp / "averaged.pt"], "running_average", None
        logger.warning("%s: no averaged.pt; decoding the newest checkpoint instead", exp)
    if args.checkpoint in ("averaged", "last"):
        path, state = _latest(exp)
        return [path], "checkpoint", state
    return [Path(args.checkpoint)], "checkpoint", None


def model_weights(args, task: Optional[str] = None) -> Dict:
    """The checkpoint dict (``model``, ``config``, plus ``checkpoints``: the files used and
    ``weights``: how they combine) that ``--checkpoint``, ``--epoch`` / ``--iter``, ``--avg``
    and ``--use-averaged-model`` pick; files that are not checkpoints of
    ``xlsr.bin.train --task <task>`` are refused (SystemExit naming the file)."""
    paths, how, end = _pick(args)
    end = _checked(paths[-1], end if end is not None else _read(paths[-1]), task)
    if how == "interval_average":
        has_start = len(paths) > args.avg
        start = _checked(paths[0], _read(paths[0]), task) if has_start else None
        logger.info(
            "averaged model between %s and %s", paths[0] if has_start else "the start", paths[-1]
        )
        weights = ckpt.average_between(start, end)
    elif len(paths) > 1:
        logger.info("averaging %d checkpoints: %s", len(paths), [p.name for p in paths])
        states = [_checked(p, _read(p), task)["model"] for p in paths[:-1]] + [end["model"]]
        weights = ckpt.average_state_dicts(states)
    else:
        logger.info("decoding the weights of %s", paths[0])
        weights = end["model"]
    return {"model": weights, "config": end["config"], "checkpoints": paths, "weights": how}


def model_info(paths: Sequence[Path], weights: str) -> dict:
    """The ``model`` entry of score-<set>.json: the files used and their short hashes."""
    hashes = [short_hash(p) for p in paths]
    joined = (
        hashes[0]
        if len(hashes) == 1
        else hashlib.sha256(" ".join(hashes).encode()).hexdigest()[:12]
    )
    return {
        "checkpoints": [str(p) for p in paths],
        "hashes": hashes,
        "hash": joined,
        "weights": weights,
    }


# ------------------------------------------------------------------------- model + lang


def _token_count(table: Path) -> int:
    """Tokens of a ``tokens.txt`` (disambiguation symbols ``#0``, ``#1`` ... not counted)."""
    lines = table.read_text(encoding="utf-8").split("\n")
    return sum(1 for line in lines if line.split() and not re.fullmatch(r"#\d+", line.split()[0]))


def check_lang_dir(
    lang_dir,
    vocab_size: int,
    source: str,
    tokens_hash: Optional[str] = None,
    trained_with: Optional[str] = None,
) -> None:
    """SystemExit unless the token tables of ``lang_dir`` (``tokenizer/tokens.txt``,
    ``tokens.txt``, where present) have the model's ``vocab_size`` tokens and, when the
    training run recorded one, ``tokenizer/tokens.txt`` has its ``tokens_hash``.

    Args:
        source: where the model's numbers come from (checkpoint file), for the message.
        trained_with: the lang dir the model was trained with, for the message.
    """
    lang = Path(lang_dir)
    was = f", trained with lang dir {trained_with}" if trained_with else ""
    for table in (lang / "tokenizer" / "tokens.txt", lang / "tokens.txt"):
        if table.is_file() and _token_count(table) != vocab_size:
            raise SystemExit(
                f"--lang-dir {lang}: {table} has {_token_count(table)} tokens, the "
                f"model in {source} has {vocab_size}{was}; decode with the lang "
                "dir the model was trained with"
            )
    table = lang / "tokenizer" / "tokens.txt"
    if tokens_hash and table.is_file() and short_hash(table) != tokens_hash:
        raise SystemExit(
            f"--lang-dir {lang}: {table} (hash {short_hash(table)}) is not the token "
            f"table of the model in {source} (tokens_hash {tokens_hash}{was}); "
            "decode with the lang dir the model was trained with"
        )


def _fit_weights(model: torch.nn.Module, weights: Dict, source: str) -> None:
    """Loads ``weights`` into ``model``; SystemExit naming ``source`` and every misfit."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    shapes = [
        f"{k} {tuple(weights[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in weights and weights[k].shape != v.shape
    ]
    problems = [f"{len(missing)} missing: {missing[:5]}"] if missing else []
    problems += [f"{len(extra)} unexpected: {extra[:5]}"] if extra else []
    problems += [f"{len(shapes)} of another shape: {shapes[:3]}"] if shapes else []
    if problems:
        raise SystemExit(
            f"{source}: its weights do not fit the model its config describes "
            f"(damaged or edited file?): {'; '.join(problems)}"
        )
    model.load_state_dict(weights)


def load_task_model(args, task) -> Tuple[torch.nn.Module, dict]:
    """The ``task`` model that ``model_weights`` picks, in eval mode, after the task checked
    ``--lang-dir`` against it (ASR: the token table); and its :func:`model_info`."""
    from xlsr.models import XLSREncoder
    from xlsr.models.config import EncoderConfig

    state = model_weights(args, task.name)
    run, paths = state["config"], state["checkpoints"]
    source = ", ".join(map(str, paths))
    try:
        head_cfg = task.config_cls(**dict(run[task.section]))
        encoder = XLSREncoder(EncoderConfig.from_dict(run["encoder"]))
    except (KeyError, TypeError, ValueError) as e:
        raise SystemExit(f"{source}: its config does not describe a {task.name} model ({e!r})") from e  # fmt: skip
    task.check_lang(args.lang_dir, head_cfg, run, source)
    model = task.build_model(encoder, head_cfg)
    _fit_weights(model, state["model"], source)
    return model.eval(), model_info(paths, state["weights"])


# ----------------------------------------------------------------------------- decoding


@torch.no_grad()
def run_model(model, cuts_path, max_duration: float) -> Iterator:
    """Yields (cut ids, output (B, T, D), frames (B,), skipped) per batch: ``skipped`` the
    (cut id, reason) pairs the data loader could not use; B may be 0 (output None then)."""
    from lhotse import load_manifest_lazy

    cfg = DataConfig(
        max_duration=max_duration, min_cut_duration=0.01, max_cut_duration=max_duration
    )
    loader, _ = make_dataloader(load_manifest_lazy(cuts_path), cfg, train=False, require_text=False)
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


def _decode_all(model, test_set: TestSet, max_duration: float, decode_batch: Callable):
    """({method: {cut id: hyp}}, {cut id: skip reason}) over the whole test set."""
    hyps: Dict[str, Dict[str, str]] = {}
    skipped: Dict[str, str] = {}
    for ids, out, frames, batch_skipped in run_model(model, test_set.cuts, max_duration):
        skipped.update(batch_skipped)
        if ids:
            for name, texts in decode_batch(out, frames).items():
                hyps.setdefault(name, {}).update(zip(ids, texts))
    decoded = set().union(*hyps.values()) if hyps else set()
    for cut_id in test_set.utts:
        if cut_id not in decoded and cut_id not in skipped:
            logger.warning("cut %s: no batch held it, counted as skipped (%s)", cut_id, NOT_DECODED)
            skipped[cut_id] = NOT_DECODED
    if not hyps:
        first = list(skipped)[:5]
        raise SystemExit(
            f"--cuts {test_set.cuts}: all {len(test_set.utts)} utterances were "
            f"skipped ({_reasons(skipped)}; first {first}); nothing to score"
        )
    return hyps, skipped


def _items(test_set: TestSet, hyps: Mapping[str, str], skipped: Mapping[str, str]) -> List[dict]:
    """One result item per utterance of the test set, in manifest order; a skipped one has
    hyp "" and ``skipped``: its reason."""
    items = []
    for cut_id, utt in test_set.utts.items():
        item = dict(utt, hyp=hyps.get(cut_id, ""))
        if cut_id in skipped:
            item["skipped"] = skipped[cut_id]
        items.append(item)
    return items


def decode_and_score(
    args, model, decode_batch: Callable, test_set: TestSet, task, info: Optional[dict] = None
) -> Dict[str, dict]:
    """Decodes ``test_set`` with ``decode_batch(output, frames) -> {method: [hyp text]}`` and
    writes, per method, EXP_DIR/decode/<method>/{hyps,score,errs}-<test_set>.* (every
    utterance accounted for, ``info`` as the score files' ``model``) and
    EXP_DIR/decode/summary-<test_set>.txt. Returns the scores by method."""
    from xlsr.scoring.results import write_summary

    out_dir = Path(args.exp_dir) / "decode"
    hyps, skipped = _decode_all(model, test_set, args.max_duration, decode_batch)
    rule = getattr(args, "skipped_utts", "deleted")
    note = f"{len(skipped)} of {len(test_set.utts)} utterances skipped"
    note += f" ({_reasons(skipped)}), scored as {rule}" if skipped else ""
    scores, rows = {}, []
    for name, by_id in hyps.items():
        items = _items(test_set, by_id, skipped)
        scores[name] = task.score(
            out_dir / name,
            test_set.name,
            items,
            cer=args.cer,
            skipped_rule=rule,
            info={"model": info} if info else None,
        )
        value = scores[name][task.metric]
        rows.append({"method": name, task.metric: value})
        logger.info("%s %s: %s %.2f%% (%s)", test_set.name, name, task.metric.upper(), value, note)
    best = write_summary(out_dir / f"summary-{test_set.name}.txt", rows, task.metric, note)
    logger.info("best for %s: %s (%s %.2f%%; %s)", test_set.name, best["method"],
                task.metric.upper(), best[task.metric], note)  # fmt: skip
    return scores


# ------------------------------------------------------------------------------ entry point


def parse_args(argv: Optional[List[str]], task, description: str) -> argparse.Namespace:
    """Common options, ``--methods``, ``--config`` and the task's method options."""
    from xlsr.tasks.base import task_names
    from xlsr.utils import config as C

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--task", default=task.name, choices=task_names(), help="the task to decode")
    p.add_argument("--config", type=existing_file, default=None,
                   help=f"YAML with 'methods' and 'options' (conf/decode_{task.name}.yaml)")  # fmt: skip
    add_common_args(p)
    p.add_argument("--methods", default=None,
                   help=f"comma-separated, of {list(task.methods)} (default: --config's, "
                   f"else {','.join(task.default_methods)})")  # fmt: skip
    p.add_argument("--hf-model", type=existing_dir, default=None,
                   help="decode a Hugging Face model directory instead of EXP_DIR's "
                   "checkpoints (asr_ctc: Wav2Vec2ForCTC, lang dir from local/prepare_lang_hf.py)")  # fmt: skip
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
        raise SystemExit(f"--config {args.config}: unknown options {unknown}; known: {sorted(known)}")  # fmt: skip
    spec = args.methods if args.methods is not None else yaml_cfg.get("methods")
    if isinstance(spec, (list, tuple)):
        spec = ",".join(map(str, spec))
    methods = parse_methods(spec if spec is not None else ",".join(task.default_methods), list(task.methods))  # fmt: skip
    try:
        options = {
            cls: C.from_args(
                cls,
                args,
                {k: v for k, v in given.items() if k in {f.name for f in dataclasses.fields(cls)}},
            )  # fmt: skip
            for cls in classes
        }
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
    check_common_args(args, model_from_exp=not args.hf_model)
    check_lang_files(args.lang_dir, task.lang_files(args.lang_dir, methods, bool(args.hf_model)))
    _check_k2(task, methods)
    start_logging(args)
    test_set = load_test_set(args, task.reference(args.lang_dir))
    if args.hf_model:
        model, info = task.load_external(args.hf_model, args.lang_dir)
    else:
        model, info = load_task_model(args, task)
    ctx = task.prepare(model, args.lang_dir, methods, options)
    decode_batch = batch_decoder(task, ctx, methods, options)
    if args.hf_model:  # an external vocabulary may spell text otherwise: as the references
        from xlsr.data.text_norm import TextNormalizer

        norm, raw = TextNormalizer.load(args.lang_dir), decode_batch
        decode_batch = lambda out, frames: {k: [norm(h) for h in v] for k, v in raw(out, frames).items()}  # noqa: E731 # fmt: skip
    decode_and_score(args, model, decode_batch, test_set, task, info)
    return 0


def batch_decoder(task, ctx, methods: List[str], options) -> Callable:
    """``decode_batch(output, frames) -> {result name: [text]}`` running every method."""

    def decode_batch(output, frames) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for m in methods:
            out.update(task.methods[m].run(ctx, output, frames, options))
        return out

    return decode_batch


def load_decoder(task, exp_dir, lang_dir, methods: List[str], checkpoint: str = "last", **values):
    """For scripts and benchmarks: (model in eval mode, the methods' context, options) of the
    newest (or ``checkpoint``) model in ``exp_dir``; ``values`` set method options."""
    args = argparse.Namespace(exp_dir=str(exp_dir), lang_dir=str(lang_dir), checkpoint=checkpoint,
                              epoch=0, iter=0, avg=1, use_averaged_model=False)  # fmt: skip
    options = options_from(values, task.option_classes())
    model, _ = load_task_model(args, task)
    return model, task.prepare(model, lang_dir, methods, options), options
