"""Decoding and scoring an ONNX export (:mod:`xlsr.tasks.onnx_export`) with sherpa-onnx and
onnxruntime, through the same test set, accounting and result files as ``xlsr.bin.decode``
(DESIGN.md contracts 3 and 6).

    python -m xlsr.bin.decode_onnx --model exp/ctc/onnx --cuts CUTS --precisions fp32,int8

| method                     | task        | client (xlsr.decode.onnx_clients)                  | needs          |
|----------------------------|-------------|----------------------------------------------------|----------------|
| sherpa-greedy              | asr_ctc     | sherpa-onnx, greedy                                | model, tokens  |
| sherpa-hlg                 | asr_ctc     | sherpa-onnx with HLG.fst (kaldi-decoder inside)    | + HLG.fst      |
| sherpa-h                   | asr_ctc     | sherpa-onnx with H.fst (no words, no LM)           | + H.fst        |
| ort-greedy                 | asr_ctc     | onnxruntime log-probs, our CTC greedy search       | model, tokens  |
| ort-hlg                    | asr_ctc     | onnxruntime log-probs, kaldi-decoder on HLG.fst    | + HLG.fst, words.txt |
| ort-greedy_search          | asr_transducer | onnxruntime, our transducer greedy search       | 3 models       |
| ort-modified_beam_search   | asr_transducer | onnxruntime, our modified beam search           | 3 models       |

Each result is ``<method>/<precision>`` (fp32: model.onnx ...; int8: model.int8.onnx ...):
EXP_DIR/decode/<method>/<precision>/{hyps,score,errs}-<test_set>.*, ranked in
EXP_DIR/decode/summary-<test_set>.txt. Text comes from the tokens as sherpa-onnx spells it
(:func:`xlsr.decode.onnx_clients.tokens_text`), except ort-hlg (words.txt). Beyond the usual
keys each score file has ``timing``: ``seconds`` (the client's model runs and search, not
audio loading), ``audio_seconds`` and ``rtf`` (seconds / audio seconds, on
``--num-threads`` threads).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from xlsr.tasks.base import Method

logger = logging.getLogger(__name__)
PRECISIONS = {"fp32": "", "int8": ".int8"}


@dataclass
class OnnxDecodeConfig:
    num_threads: int = 1  # onnxruntime / sherpa-onnx threads per session
    max_active: int = 3000  # kaldi-decoder FasterDecoder max active states (sherpa-onnx's default)
    search_beam: float = 16.0  # ort-hlg FasterDecoder beam (16 is fixed inside sherpa-onnx)
    beam_size: int = 4  # ort-modified_beam_search hypotheses per utterance
    max_sym_per_frame: int = 1  # ort-greedy_search tokens per frame at most

    def __post_init__(self) -> None:
        for name in ("num_threads", "max_active", "search_beam", "beam_size", "max_sym_per_frame"):
            if not getattr(self, name) > 0:
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{option} must be > 0, got {getattr(self, name)}")


class OnnxBatch:
    """A batch as the ONNX methods see it: the audio, and the onnxruntime outputs, run once
    per precision and shared by the methods that read them (with their time)."""

    def __init__(self, waveforms, lengths, ctx: OnnxContext) -> None:
        self.waveforms, self.lengths, self.ctx = waveforms, lengths, ctx
        self._ort: Dict[str, Tuple[Any, Any, float]] = {}

    @property
    def audio_seconds(self) -> float:
        return float(self.lengths.sum()) / 16000

    def ort(self, precision: str) -> Tuple[Any, Any, float]:
        """(output, frames, seconds) of the onnxruntime model of ``precision``."""
        if precision not in self._ort:
            start = time.perf_counter()
            out, frames = self.ctx.client("ort", precision)(self.waveforms, self.lengths)
            self._ort[precision] = (out, frames, time.perf_counter() - start)
        return self._ort[precision]


@dataclass
class OnnxContext:
    """The ONNX dir, its task and vocabulary, the chosen precisions, lazily built clients and
    the time each result took."""

    model_dir: Path
    task: str
    symbols: List[str]
    precisions: List[str]
    cfg: OnnxDecodeConfig
    clients: Dict[Tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    timing: Dict[str, List[float]] = dataclasses.field(default_factory=dict)
    hlg: Optional[Tuple[Any, List[str]]] = None  # (HLG.fst, words by id), read once

    def file(self, name: str, precision: str = "fp32") -> Path:
        return self.model_dir / f"{name}{PRECISIONS[precision]}.onnx"

    def client(self, kind: str, precision: str, graph: Optional[str] = None):
        from xlsr.decode import onnx_clients as oc

        key = (kind + (graph or ""), precision)
        if key not in self.clients:
            threads, d = self.cfg.num_threads, self.model_dir
            if kind == "sherpa":
                self.clients[key] = oc.SherpaCtc(
                    self.file("model", precision),
                    d / "tokens.txt",
                    d / graph if graph else None,
                    self.cfg.max_active,
                    threads,
                )
            elif self.task == "asr_ctc":
                self.clients[key] = oc.OrtCtc(self.file("model", precision), threads)
            else:
                self.clients[key] = oc.OrtTransducer(d, PRECISIONS[precision], threads)
        return self.clients[key]

    def graph(self) -> Tuple[Any, List[str]]:
        """(HLG.fst, words by id) of the ONNX dir, read once."""
        import kaldifst

        from xlsr.data.tokenizer import read_symbols

        if self.hlg is None:
            fst = kaldifst.StdVectorFst.read(str(self.model_dir / "HLG.fst"))
            self.hlg = fst, read_symbols(self.model_dir / "words.txt")
        return self.hlg

    def add_time(self, result: str, seconds: float, audio_seconds: float) -> None:
        spent = self.timing.setdefault(result, [0.0, 0.0])
        spent[0] += seconds
        spent[1] += audio_seconds


def _timed(ctx: OnnxContext, name: str, batch: OnnxBatch, decode: Callable):
    """{<name>/<precision>: texts} for each precision, with the time each result took:
    ``decode(precision)`` returns (texts, seconds), the seconds counting any onnxruntime run
    that results share (:meth:`OnnxBatch.ort`)."""
    out = {}
    for precision in ctx.precisions:
        texts, seconds = decode(precision)
        result = f"{name}/{precision}"
        ctx.add_time(result, seconds, batch.audio_seconds)
        out[result] = texts
    return out


def _sherpa(graph: Optional[str]) -> Callable:
    name = {None: "sherpa-greedy", "HLG.fst": "sherpa-hlg", "H.fst": "sherpa-h"}[graph]

    def run(ctx: OnnxContext, batch: OnnxBatch, frames, options) -> Dict[str, List[str]]:
        def decode(precision: str) -> Tuple[List[str], float]:
            client = ctx.client("sherpa", precision, graph)
            start = time.perf_counter()
            texts = client.decode_batch(batch.waveforms, batch.lengths)
            return texts, time.perf_counter() - start

        return _timed(ctx, name, batch, decode)

    return run


def _ort_ctc(hlg: bool) -> Callable:
    def run(ctx: OnnxContext, batch: OnnxBatch, frames, options) -> Dict[str, List[str]]:
        from xlsr.decode.ctc import greedy_search
        from xlsr.decode.graph_search import kaldi_best_path
        from xlsr.decode.onnx_clients import tokens_text

        def decode(precision: str) -> List[str]:
            log_probs, lens, seconds = batch.ort(precision)
            start = time.perf_counter() - seconds  # the shared model run counts for each
            if not hlg:
                ids = greedy_search(log_probs, lens)
                texts = [tokens_text(i, ctx.symbols) for i in ids]
            else:
                fst, words = ctx.graph()
                texts = []
                for lp, n in zip(log_probs, lens.tolist()):
                    found = kaldi_best_path(
                        fst, lp[:n].numpy(), ctx.cfg.search_beam, ctx.cfg.max_active
                    )
                    texts.append(" ".join(words[w] for w in found))
            return texts, time.perf_counter() - start

        return _timed(ctx, "ort-hlg" if hlg else "ort-greedy", batch, decode)

    return run


def _ort_transducer(beam: bool) -> Callable:
    def run(ctx: OnnxContext, batch: OnnxBatch, frames, options) -> Dict[str, List[str]]:
        from xlsr.decode.onnx_clients import tokens_text
        from xlsr.decode.transducer import greedy_search, modified_beam_search

        def decode(precision: str):
            encoder_out, lens, seconds = batch.ort(precision)
            start = time.perf_counter() - seconds
            model = ctx.client("ort", precision)
            if beam:
                ids = modified_beam_search(model, encoder_out, lens, ctx.cfg.beam_size)
            else:
                ids = greedy_search(model, encoder_out, lens, ctx.cfg.max_sym_per_frame)
            return [tokens_text(i, ctx.symbols) for i in ids], time.perf_counter() - start

        name = "ort-modified_beam_search" if beam else "ort-greedy_search"
        return _timed(ctx, name, batch, decode)

    return run


def _score(ctx: OnnxContext, out_dir, test_set: str, items, options, **kwargs) -> dict:
    """The ASR result files, with the result's ``timing``."""
    from xlsr.scoring.results import write_results

    result = "/".join(Path(out_dir).parts[-2:])
    seconds, audio = ctx.timing.get(result, [0.0, 0.0])
    timing = {
        "seconds": round(seconds, 3),
        "audio_seconds": round(audio, 3),
        "rtf": round(seconds / audio, 5) if audio else None,
        "num_threads": ctx.cfg.num_threads,
    }
    kwargs["info"] = {**(kwargs.get("info") or {}), "timing": timing}
    logger.info(
        "%s %s: RTF %s (%.1f s, %.1f s of audio)", test_set, result, timing["rtf"], seconds, audio
    )
    return write_results(out_dir, test_set, items, **kwargs)


def _method(run: Callable, files: Tuple[str, ...]) -> Method:
    return Method(run=run, configs=(OnnxDecodeConfig,), lang_files=files, score=_score)


#: task -> method -> Method (``lang_files``: the files of the ONNX dir besides the models)
METHODS: Dict[str, Dict[str, Method]] = {
    "asr_ctc": {
        "sherpa-greedy": _method(_sherpa(None), ("tokens.txt",)),
        "sherpa-hlg": _method(_sherpa("HLG.fst"), ("tokens.txt", "HLG.fst")),
        "sherpa-h": _method(_sherpa("H.fst"), ("tokens.txt", "H.fst")),
        "ort-greedy": _method(_ort_ctc(False), ("tokens.txt",)),
        "ort-hlg": _method(_ort_ctc(True), ("HLG.fst", "words.txt")),
    },
    "asr_transducer": {
        "ort-greedy_search": _method(_ort_transducer(False), ("tokens.txt",)),
        "ort-modified_beam_search": _method(_ort_transducer(True), ("tokens.txt",)),
    },
}
DEFAULT_METHODS = {
    "asr_ctc": ("sherpa-greedy", "sherpa-hlg", "ort-greedy", "ort-hlg"),
    "asr_transducer": ("ort-greedy_search", "ort-modified_beam_search"),
}


class OnnxMethods:
    """What :class:`xlsr.tasks.decode_plan.DecodePlan` needs of a task, for the ONNX methods."""

    metric = "wer"

    def __init__(self, task: str) -> None:
        self.name, self.methods = task, METHODS[task]


# ------------------------------------------------------------------------------ entry point


def parse_args(argv: Optional[List[str]], description: str) -> argparse.Namespace:
    from xlsr.tasks.decoding import add_scoring_args, add_test_set_args
    from xlsr.utils import config as C
    from xlsr.utils.argtypes import existing_dir

    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--model", required=True, type=existing_dir, help="an ONNX dir of xlsr.bin.export_onnx"
    )
    add_test_set_args(p)
    p.add_argument("--exp-dir", default=None, help="results in EXP_DIR/decode/ (default: --model)")
    p.add_argument("--methods", default=None, help="comma-separated (default: all but sherpa-h)")
    p.add_argument(
        "--precisions",
        default="fp32",
        help="fp32 and/or int8, comma-separated (int8: --int8 export)",
    )
    add_scoring_args(p)
    C.add_dataclass_args(p, OnnxDecodeConfig)
    return p.parse_args(argv)


def read_export_info(model_dir: Path) -> Dict[str, Any]:
    """onnx.json of an ONNX dir; SystemExit naming --model when it is not one."""
    import json

    from xlsr.tasks.onnx_export import ONNX_INFO

    path = model_dir / ONNX_INFO
    if not path.is_file():
        raise SystemExit(
            f"--model {model_dir}: not an ONNX export (no {ONNX_INFO}); make one with "
            "python -m xlsr.bin.export_onnx"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def check_files(model_dir: Path, task: str, methods: List[str], precisions: List[str]) -> None:
    """SystemExit naming the first file of the ONNX dir that a method or precision needs and
    that is missing, and what writes it."""
    from xlsr.tasks.onnx_export import MODEL_FILES

    for precision in precisions:
        for name in MODEL_FILES[task]:
            path = model_dir / f"{name}{PRECISIONS[precision]}.onnx"
            if not path.is_file():
                fix = " (export with --int8)" if precision == "int8" else ""
                raise SystemExit(f"--precisions {precision}: {path} is missing{fix}")
    for m in methods:
        for name in METHODS[task][m].lang_files:
            if not (model_dir / name).is_file():
                raise SystemExit(
                    f"--methods {m}: {model_dir / name} is missing (HLG.fst comes from a lang "
                    "dir with graphs, H.fst needs k2 at export)"
                )


def decode_onnx_main(argv: Optional[List[str]], description: str) -> int:
    """Checks the options and the ONNX dir, then decodes and scores ``--cuts`` with each
    method and precision (see the module docstring)."""
    from xlsr.decode.onnx_clients import read_tokens
    from xlsr.tasks.base import get_task
    from xlsr.tasks.decode_plan import DecodePlan
    from xlsr.tasks.decoding import decode_and_score, load_test_set, parse_methods, start_logging
    from xlsr.utils import config as C

    args = parse_args(argv, description)
    model_dir = Path(args.model)
    info = read_export_info(model_dir)
    task = info["task"]
    methods = parse_methods(args.methods or ",".join(DEFAULT_METHODS[task]), list(METHODS[task]))
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad or not precisions:
        raise SystemExit(f"--precisions {args.precisions!r}: choose from {sorted(PRECISIONS)}")
    check_files(model_dir, task, methods, precisions)
    try:
        cfg = C.from_args(OnnxDecodeConfig, args)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"decode_onnx options: {e}") from e
    args.exp_dir = args.exp_dir or str(model_dir)
    start_logging(args)
    test_set = load_test_set(args, get_task(task).reference(model_dir))
    ctx = OnnxContext(model_dir, task, read_tokens(model_dir / "tokens.txt"), precisions, cfg)
    plan = DecodePlan(OnnxMethods(task), methods, ctx, {OnnxDecodeConfig: cfg})

    def runner(waveforms, lengths):
        return OnnxBatch(waveforms, lengths, ctx), lengths

    model = {"onnx_dir": str(model_dir), "source": info["source"], "hashes": info["hash"]}
    decode_and_score(args, runner, plan, test_set, model)
    return 0
