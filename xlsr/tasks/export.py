"""Exporting a trained model: one directory that decodes without its exp dir or lang dir.

    export_model("exp/ctc", "models/numbers-ctc", checkpoint="averaged")
    python -m xlsr.bin.export --exp-dir exp/ctc --out models/numbers-ctc

    DIR/config.yaml   the run config the weights were trained with (task, encoder, head, ...)
    DIR/model.pt      the weights only (a state dict: name -> tensor)
    DIR/lang/         the lang dir files decoding reads, those present: tokenizer/, tokens.txt,
                      words.txt, text_norm.json, lm_orders.json, lang.json, HLG.pt, LG.pt,
                      G_<N>_gram.pt of the first-pass and rescoring orders, and the tasks'
                      ``model_files`` (labels.txt)
    DIR/export.json   what was exported: the source files, their short hashes, the update
    DIR/README.md     how it was trained (config.yaml) and its results (the exp dir's
                      decode/summary-*.txt)

``xlsr.load_model(DIR)`` and ``python -m xlsr.bin.decode --model DIR`` take it (the lang dir
inside, so no ``--lang-dir``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from xlsr.models.fairseq_hf import CheckpointError
from xlsr.tasks.base import get_task, task_names, task_of_run
from xlsr.tasks.load import (
    EXPORT_CONFIG,
    EXPORT_LANG,
    EXPORT_WEIGHTS,
    check_vocabulary,
    file_kind,
    find_lang_dir,
    head_config,
    read_checkpoint,
)
from xlsr.train import checkpoint as ckpt

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
EXPORT_INFO, EXPORT_README = "export.json", "README.md"
EXPORT_FORMAT = "xlsr-k2-export"


def pick_weights(exp_dir: Path, checkpoint: str) -> Tuple[Path, Dict[str, Any], str]:
    """(file, its contents, how: "checkpoint" | "running_average") that ``checkpoint`` names:
    "last" (the newest readable checkpoint), "averaged" (averaged.pt) or a file."""
    if checkpoint == "last":
        path, state, broken = ckpt.newest_readable(exp_dir)
        if path is None:
            unreadable = f" (unreadable: {[p.name for p in broken]})" if broken else ""
            raise CheckpointError(exp_dir, f"no readable checkpoint-*.pt or epoch-*.pt{unreadable}")
        return path, state, "checkpoint"
    path = exp_dir / "averaged.pt" if checkpoint == "averaged" else Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(path, "no such file (--checkpoint last, averaged or a file)")
    state = read_checkpoint(path)
    if file_kind(state) != "checkpoint":
        raise CheckpointError(path, "not a checkpoint of xlsr.bin.train (model + config)")
    return path, state, "running_average" if checkpoint == "averaged" else "checkpoint"


def lang_files(lang_dir: Pathlike) -> List[Path]:
    """The files of ``lang_dir`` an export carries (those present)."""
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(lang_dir)
    names = [lang.tokenizer_dir, lang.tokens, lang.words, lang.text_norm, lang.orders_file]
    names += [lang.meta, lang.HLG, lang.LG, *dict.fromkeys([lang.first_pass_G, lang.rescore_G])]
    names += [Path(lang_dir) / name for t in task_names() for name in get_task(t).model_files]
    return [p for p in names if p.exists()]


def check_lang(task, run: Dict[str, Any], lang: Path, source: str) -> None:
    """Refuses a lang dir that is not the model's: a token table of another size or hash, or
    (tasks with ``model_files``, e.g. labels.txt) missing files or other labels."""
    if not task.model_files:
        check_vocabulary(run, lang, source)
        return
    missing = [n for n in task.model_files if not (lang / n).is_file()]
    if missing:
        raise CheckpointError(lang, f"no {', '.join(missing)} (model: {source})")
    task.check_lang(lang, head_config(task, run, source)[0], run, source)


def prepare_out_dir(out: Path, marker: str = EXPORT_INFO) -> None:
    """``out`` empty or new, or an earlier export (it has ``marker``: replaced); anything else
    is refused."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not (out / marker).is_file():
            raise ValueError(
                f"--out {out}: exists and is not an earlier export (no {marker}); "
                "choose a new directory"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def export_model(
    exp_dir: Pathlike,
    out_dir: Pathlike,
    checkpoint: str = "last",
    lang_dir: Optional[Pathlike] = None,
) -> Path:
    """Writes the self-contained model dir ``out_dir`` (see the module docstring).

    Args:
        exp_dir: the exp dir of ``xlsr.bin.train``.
        out_dir: the directory to write (new, empty, or an earlier export to replace).
        checkpoint: "last" (newest readable checkpoint), "averaged" (averaged.pt, the
            running average) or a checkpoint file.
        lang_dir: the lang dir of the model (default: the one the run recorded); its token
            table must be the model's.

    Returns:
        Path: ``out_dir``.

    Raises:
        CheckpointError / ValueError: naming the exp dir, file or lang dir that is wrong.
    """
    from xlsr.utils.config import save_yaml
    from xlsr.utils.fingerprint import short_hash
    from xlsr.utils.io import atomic_torch_save

    exp, out = Path(exp_dir), Path(out_dir)
    if not exp.is_dir():
        raise ValueError(f"--exp-dir {exp}: no such directory")
    path, state, how = pick_weights(exp, checkpoint)
    run = state["config"]
    task = get_task(task_of_run(run))
    lang = Path(lang_dir) if lang_dir is not None else find_lang_dir(run, exp)
    if lang is None and task.model_files and all((exp / n).is_file() for n in task.model_files):
        lang = exp  # the files the task keeps next to the model (lid / sid: labels.txt)
    if lang is None:
        raise ValueError(
            f"{exp}: the lang dir the run recorded ({run.get('lang_dir')}) is not found from "
            "here; give it with --lang-dir"
        )
    check_lang(task, run, lang, str(path))
    prepare_out_dir(out)
    atomic_torch_save(state["model"], out / EXPORT_WEIGHTS)
    save_yaml(run, out / EXPORT_CONFIG)
    copied = _copy_lang(lang, out / EXPORT_LANG)
    update = (state.get("trainer") or {}).get("update", state.get("update"))
    info = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "task": task.name,
        "weights": how,
        "source": str(path),
        "hash": short_hash(path),
        "update": update,
        "exp_dir": str(exp),
        "lang_dir": str(lang),
        "lang_files": copied,
    }
    (out / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / EXPORT_README).write_text(readme(out, run, info, exp), encoding="utf-8")
    logger.info(
        "exported %s (%s, update %s) with %d lang dir files to %s",
        path,
        how,
        update,
        len(copied),
        out,
    )
    return out


def _copy_lang(lang: Path, dest: Path) -> List[str]:
    copied = []
    for src in lang_files(lang):
        target = dest / src.relative_to(lang)
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
        copied.append(src.relative_to(lang).as_posix())
    return copied


def _section(title: str, values: Any) -> List[str]:
    """A fenced YAML block of one config section."""
    import yaml

    if not values:
        return []
    text = yaml.safe_dump(values, sort_keys=False, allow_unicode=True).rstrip()
    return [f"{title}:", "", "```yaml", text, "```", ""]


def readme(out: Path, run: Dict[str, Any], info: Dict[str, Any], exp: Path) -> str:
    """README.md of an export: how to use it, how it was trained, its results."""
    enc = run.get("encoder") or {}
    init = run.get("xlsr_checkpoint") or "a random initialisation (no --xlsr-checkpoint)"
    weights = {"checkpoint": "the checkpoint", "running_average": "the running average of"}
    lines = [
        f"# {info['task']} model exported from {exp}",
        "",
        "Use it:",
        "",
        "```",
        f"python -m xlsr.bin.decode --model {out} --cuts AUDIO_FILES_OR_DIR_OR_MANIFEST",
        f"python -c \"import xlsr; m = xlsr.load_model('{out}')\"",
        "```",
        "",
        "## How it was trained",
        "",
        f"- task: {info['task']} (head section `{run.get('head')}`)",
        f"- encoder: {enc.get('num_layers')} layers x {enc.get('embed_dim')}, trained from {init}",
        f"- weights: {weights[info['weights']]} {info['source']} (update {info['update']}, "
        f"hash {info['hash']})",
        f"- lang dir: {info['lang_dir']} (copied to lang/: {', '.join(info['lang_files'])})",
        f"- training data: {run.get('train_cuts') or 'not recorded'}; validation: "
        f"{run.get('valid_cuts') or 'none recorded'}",
        "",
    ]
    for key, title in (
        ("train", "Training options"),
        ("data", "Data options"),
        (run.get("head"), "Head"),
    ):
        lines += _section(title, run.get(key) if key else None)
    lines += ["## Results", ""]
    summaries = sorted((exp / "decode").glob("summary-*.txt"))
    for summary in summaries:
        test_set = summary.stem[len("summary-") :]
        lines += [f"{test_set} ({summary}):", "", "```", summary.read_text().rstrip(), "```", ""]
    if not summaries:
        lines += [f"No decoding results in {exp / 'decode'} when it was exported.", ""]
    return "\n".join(lines)
