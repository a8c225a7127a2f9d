"""The model that ``xlsr.bin.decode`` decodes: how ``--model``, ``--exp-dir``,
``--checkpoint``, ``--epoch`` / ``--iter`` / ``--avg`` / ``--use-averaged-model`` and
``--hf-model`` resolve to a model, the checks of what they name, and loading it. The runner
that decodes it is :mod:`xlsr.tasks.decoding`.

    resolve_model(args)          the kind of ``--model`` ("exp_dir", "exported", "file",
                                 "hf_ctc", "hf_classifier", "hf_st"), filling in what it
                                 implies
    model_weights(args, task)    the checkpoint dict the options pick (one file, an average
                                 of several, or an exported model's)
    load_chosen_model(args, task, kind, fairseq)  (model in eval mode, model_info): one of
                                 our trainer's (load_task_model), a fairseq checkpoint
                                 (load_fairseq_model) or a Hugging Face dir (the task's
                                 load_external)
    model_info(paths, weights)   the ``model`` entry of the score files
    check_lang_dir(lang_dir, vocab_size, source)  the lang dir's token tables against the model

Nothing silent (issue 9):
    * a ``--checkpoint`` that is not a checkpoint of ``xlsr.bin.train --task <task>`` (a fairseq file,
      an encoder-only file, another task's model, weights that do not fit) is refused with one
      message naming the file, what it is and what the command needs;
    * a lang dir whose token table does not match the model's is refused before decoding
      (:func:`check_lang_dir`);
    * the log says which checkpoint file(s) the weights come from, and which unreadable ones
      were passed over; score files record them (:func:`model_info`).

External models (``--model`` / ``--hf-model``; :func:`external_tasks` says which task decodes
which): a Hugging Face Wav2Vec2ForCTC dir or a fairseq wav2vec_ctc checkpoint (asr_ctc), a
Hugging Face Wav2Vec2ForSequenceClassification dir or a fairseq wav2vec_classification
checkpoint (lid, sid), a Hugging Face SpeechEncoderDecoderModel dir or a fairseq
xm_transformer checkpoint (st). One given to another task is refused naming the file, its
architecture and the right ``--task``. The task's ``load_external`` loads it and checks the
lang dir against it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from xlsr.models.fairseq_classifier import ARCH as FAIRSEQ_CLASSIFIER
from xlsr.models.fairseq_ctc import CTC_ARCHS
from xlsr.models.fairseq_st import ST_ARCHS
from xlsr.models.hf_classifier import ARCHITECTURE as HF_CLASSIFIER
from xlsr.models.hf_st import ARCHITECTURE as HF_ST
from xlsr.tasks.base import task_of_run
from xlsr.tasks.load import CLASSIFIER_TASKS
from xlsr.train import checkpoint as ckpt
from xlsr.utils.fingerprint import short_hash

logger = logging.getLogger(__name__)
HF_KINDS = ("hf_ctc", "hf_classifier", "hf_st")  # model_kind of a Hugging Face model dir

#: the fairseq architectures decoded as external models, and the tasks that decode them
FAIRSEQ_TASKS = {
    **{arch: ("asr_ctc",) for arch in CTC_ARCHS},
    FAIRSEQ_CLASSIFIER: CLASSIFIER_TASKS,
    **{arch: ("st",) for arch in ST_ARCHS},
}
#: the Hugging Face architectures decoded as external models (by their model_kind)
HF_ARCHITECTURES = {
    "hf_ctc": ("Wav2Vec2ForCTC", ("asr_ctc",)),
    "hf_classifier": (HF_CLASSIFIER, CLASSIFIER_TASKS),
    "hf_st": (HF_ST, ("st",)),
}


# -------------------------------------------------------------------------- which model


def weights_dir(args) -> Path:
    """The exp dir whose checkpoints are decoded (``--model``'s, else ``--exp-dir``)."""
    return Path(getattr(args, "weights_dir", None) or args.exp_dir)


def hf_kind(path) -> str:
    """ "hf_classifier" for a Hugging Face Wav2Vec2ForSequenceClassification dir, "hf_st" for
    a SpeechEncoderDecoderModel dir, else "hf_ctc" (whose loader names what else ``path``
    is)."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import model_kind

    try:
        kind = model_kind(path)
    except CheckpointError:
        return "hf_ctc"
    return kind if kind in HF_KINDS else "hf_ctc"


def resolve_model(args) -> str:
    """Fills in what ``--model`` implies (``--exp-dir``: its directory; ``--lang-dir``: an
    exported dir's lang/; ``--checkpoint``: a file; ``--hf-model``: an HF dir) and returns
    its kind: "exp_dir", "exported", "file", "hf_ctc", "hf_classifier" or "hf_st";
    SystemExit naming the option when nothing says what to decode, or where."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import EXPORT_LANG, model_kind

    if args.model is None:
        if args.exp_dir is None:
            raise SystemExit(
                "give --model (the model to decode) or --exp-dir (an exp dir of xlsr.bin.train)"
            )
        kind = hf_kind(args.hf_model) if args.hf_model else "exp_dir"
    elif args.hf_model:
        raise SystemExit("--model and --hf-model exclude each other: give one")
    else:
        try:
            kind = model_kind(args.model)
        except CheckpointError as e:
            raise SystemExit(f"--model {e}") from e
        model = Path(args.model)
        args.exp_dir = args.exp_dir or str(model if model.is_dir() else model.parent)
        if kind == "exp_dir":
            args.weights_dir = str(model)
        elif kind == "file":
            if args.checkpoint != "last":
                raise SystemExit(f"--model {model} (a file) and --checkpoint exclude each other")
            args.checkpoint = str(model)
        elif kind in HF_KINDS:
            args.hf_model = str(model)
        elif kind == "exported":
            args.lang_dir = args.lang_dir or str(model / EXPORT_LANG)
            picked = args.epoch or args.iter or args.avg > 1 or args.use_averaged_model
            if picked or args.checkpoint != "last":
                raise SystemExit(
                    f"--model {model}: an exported model (one set of weights); --checkpoint, "
                    "--epoch, --iter, --avg and --use-averaged-model pick files of an exp dir"
                )
    if args.lang_dir is None:
        raise SystemExit("--lang-dir is required (an exported --model brings its own)")
    return kind


def _task_options(tasks: Sequence[str]) -> str:
    return " or ".join(f"--task {t}" for t in tasks)


def external_tasks() -> Dict[str, Tuple[str, ...]]:
    """Task -> the external models it decodes (fairseq architectures, Hugging Face
    architectures), for messages."""
    out: Dict[str, Tuple[str, ...]] = {}
    pairs = [*FAIRSEQ_TASKS.items(), *HF_ARCHITECTURES.values()]
    for what, tasks in pairs:
        for t in tasks:
            out[t] = (*out.get(t, ()), what)
    return out


def _external_help(task) -> str:
    what = external_tasks().get(task.name)
    if not what:
        return f"--task {task.name} decodes no external models"
    return f"--task {task.name} decodes {', '.join(what)} models"


def _fairseq_file(args, task) -> Optional[dict]:
    """The contents of ``--model`` when it is a fairseq checkpoint that ``task`` decodes
    (wav2vec_ctc: asr_ctc; wav2vec_classification: lid, sid; xm_transformer: st); None for
    anything else (our
    checkpoints and their checks). SystemExit naming the file, its architecture and the
    right ``--task`` for one of another task."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import fairseq_arch, file_kind, read_checkpoint

    try:
        obj = read_checkpoint(args.model)
    except CheckpointError:
        return None
    if file_kind(obj) != "fairseq":
        return None
    try:
        arch = fairseq_arch(args.model, obj) or "unknown"
    except CheckpointError as e:
        raise SystemExit(f"--model {e}") from e
    tasks = FAIRSEQ_TASKS.get(arch)
    if task.name in (tasks or ("asr_ctc",)):  # asr_ctc: its loader names what else it is
        return obj
    if tasks:
        raise SystemExit(
            f"--model {args.model}: a fairseq {arch} checkpoint; decode it with "
            f"{_task_options(tasks)} ({_external_help(task)})"
        )
    raise SystemExit(
        f"--model {args.model}: a fairseq {arch} checkpoint, which no task decodes "
        f"({_external_help(task)}); its encoder can be fine-tuned with xlsr.bin.train "
        f"--task {task.name} --xlsr-checkpoint {args.model}"
    )


def _check_hf_dir(path, kind: str, task) -> None:
    """SystemExit naming the Hugging Face dir ``path``, its architecture and the right
    ``--task`` when ``task`` does not decode it."""
    import json

    architecture, tasks = HF_ARCHITECTURES[kind]
    if task.name in tasks:
        return
    try:
        named = json.loads((Path(path) / "config.json").read_text()).get("architectures")
    except (OSError, ValueError, AttributeError):
        named = None
    named = named[0] if isinstance(named, list) and named else architecture
    advice = (
        f"decode it with {_task_options(tasks)}" if named == architecture else "no task decodes it"
    )
    raise SystemExit(
        f"--hf-model {path}: a Hugging Face {named} directory; {advice} ({_external_help(task)})"
    )


def check_external(args, task, kind: str) -> Optional[dict]:
    """Refuses an external model of :func:`resolve_model`'s ``kind`` that ``task`` does not
    decode (SystemExit naming the file, its architecture and the right ``--task``); returns
    the contents of a fairseq checkpoint that ``task`` decodes, None for any other model."""
    if kind in HF_KINDS:
        _check_hf_dir(args.hf_model, kind, task)
        return None
    return _fairseq_file(args, task) if kind == "file" else None


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
        logger.warning(
            "decoding %s (update %d), the newest readable checkpoint; unreadable: %s",
            best,
            state["trainer"]["update"],
            names,
        )
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
            f"a fairseq fine-tuned CTC checkpoint ({arch or 'wav2vec_ctc'}); {tune}; to decode "
            f"it: --task asr_ctc --model {path} (dict.ltr.txt beside it; --hf-model decodes a "
            "Hugging Face Wav2Vec2ForCTC directory)"
        )
    if arch in FAIRSEQ_TASKS:
        return (
            f"a fairseq fine-tuned {arch} checkpoint; {tune}; to decode it: "
            f"{_task_options(FAIRSEQ_TASKS[arch])} --model {path}"
        )
    if any(str(k).startswith("w2v_encoder.") for k in keys):
        return f"a fairseq fine-tuned checkpoint ({arch or 'unknown architecture'}); {tune}"
    return f"a fairseq {arch or 'wav2vec 2.0'} pretraining checkpoint (an encoder only); {tune}"


def _what_else(path: Path, obj: Any, task: str) -> Optional[str]:
    """None for a checkpoint of our trainer; else what the file is (for the message)."""
    from xlsr.models.fairseq_hf import OUR_FORMAT

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
    exp = weights_dir(args)
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
    if getattr(args, "exported", None):
        return _exported(Path(args.exported), task)
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


def _exported(path: Path, task: Optional[str]) -> Dict:
    """The weights and config of an exported model dir (``xlsr.bin.export``)."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import EXPORT_WEIGHTS, exported_state

    try:
        state = exported_state(path)
    except CheckpointError as e:
        raise SystemExit(str(e)) from e
    other = task_of_run(state["config"])
    if task is not None and other != task:
        raise SystemExit(
            f"{path}: a model of the task {other}, not {task}; decode it with --task {other}"
        )
    logger.info("decoding the exported model %s", path)
    return {**state, "checkpoints": [path / EXPORT_WEIGHTS], "weights": "exported"}


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


def load_task_model(args, task) -> Tuple[torch.nn.Module, dict]:
    """The ``task`` model that ``model_weights`` picks, in eval mode, after the task checked
    ``--lang-dir`` against it (ASR: the token table); and its :func:`model_info`."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import build_task_model, head_config

    state = model_weights(args, task.name)
    run, paths = state["config"], state["checkpoints"]
    source = ", ".join(map(str, paths))
    try:
        head_cfg, _ = head_config(task, run, source)
        task.check_lang(args.lang_dir, head_cfg, run, source)
        model = build_task_model(task, run, state["model"], source)
    except CheckpointError as e:
        raise SystemExit(str(e)) from e
    return model, model_info(paths, state["weights"])


def load_fairseq_model(path, obj: dict, lang_dir, task=None) -> Tuple[torch.nn.Module, dict]:
    """A fairseq checkpoint (read into ``obj``) as an external model: a
    wav2vec_classification or xm_transformer one through ``task.load_external(path,
    lang_dir, obj)`` (lid, sid; st); a wav2vec_ctc one as an asr_ctc model: its vocabulary
    (dict.ltr.txt beside it) decodes, the lang dir's tokens must match it."""
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.load import fairseq_arch, load_fairseq_ctc_model

    if task is not None and fairseq_arch(path, obj) in (FAIRSEQ_CLASSIFIER, *ST_ARCHS):
        return task.load_external(path, lang_dir, obj)

    try:
        loaded = load_fairseq_ctc_model(Path(path), obj)
    except CheckpointError as e:
        raise SystemExit(f"--model {e}") from e
    check_lang_dir(lang_dir, len(loaded.vocabulary), str(path))
    loaded.model.vocabulary = loaded.tokenizer  # the task's prepare() decodes with it
    return loaded.model, model_info(loaded.files, "fairseq_model")


def load_chosen_model(
    args, task, kind: str, fairseq: Optional[dict]
) -> Tuple[torch.nn.Module, dict]:
    """The model that :func:`resolve_model`'s ``kind`` names, and its :func:`model_info`:
    a Hugging Face dir through ``task.load_external``, a fairseq checkpoint (read into
    ``fairseq``) through :func:`load_fairseq_model`, else our trainer's weights through
    :func:`load_task_model`."""
    if kind in HF_KINDS:
        return task.load_external(args.hf_model, args.lang_dir)
    if fairseq is not None:
        return load_fairseq_model(args.model, fairseq, args.lang_dir, task)
    return load_task_model(args, task)
