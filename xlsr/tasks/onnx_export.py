"""Exporting an ASR model to ONNX for sherpa-onnx and onnxruntime: one directory.

    export_onnx("exp/ctc", "exp/ctc/onnx", int8=True)
    python -m xlsr.bin.export_onnx --model exp/ctc --out exp/ctc/onnx --int8

    CTC (asr_ctc)
    DIR/model.onnx           raw samples (N, S) -> log-probs (N, T, V) (xlsr.models.onnx_export)
    DIR/model.int8.onnx      the same with int8 MatMul weights (--int8)
    DIR/HLG.fst              the lang dir's OpenFst HLG (input labels token id + 1), if it has one
    DIR/H.fst                the CTC topology over the tokens (with k2: decoding without words)
    DIR/words.txt            the word table of HLG.fst
    transducer (asr_transducer)
    DIR/{encoder,decoder,joiner}.onnx (+ .int8.onnx): icefall's layout, metadata vocab_size,
                             context_size, joiner_dim
    both
    DIR/tokens.txt           ``symbol id`` per line, the model's output tokens (0 = blank)
    DIR/text_norm.json       how references are normalised (xlsr.bin.decode_onnx scores with it)
    DIR/onnx.json            what was exported: the source weights and their hash, the files
                             and their sizes, opset, IR version, torch, ``sherpa_exact``
    DIR/README.md            the commands that decode it

The model is anything ``xlsr.load_model`` reads (an exp dir, a checkpoint, an exported model
dir, a Hugging Face Wav2Vec2ForCTC dir, a fairseq wav2vec_ctc checkpoint).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from xlsr.tasks.export import prepare_out_dir

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
ONNX_INFO, ONNX_README = "onnx.json", "README.md"
ONNX_FORMAT = "xlsr-k2-onnx"
TASKS = ("asr_ctc", "asr_transducer")
#: the model files of each task, fp32 (the int8 ones are <name>.int8.onnx)
MODEL_FILES = {"asr_ctc": ("model",), "asr_transducer": ("encoder", "decoder", "joiner")}


def write_tokens(vocabulary: List[str], path: Path) -> None:
    """tokens.txt as sherpa-onnx reads it: ``symbol id`` per line; refuses symbols with
    white space (they would not parse)."""
    from xlsr.data.tokenizer import write_symbols

    bad = [s for s in vocabulary if not s or any(c.isspace() for c in s)]
    if bad:
        raise ValueError(f"{path}: tokens {bad[:5]} are empty or hold white space")
    write_symbols(vocabulary, path)


def _graphs(loaded, lang: Optional[Path], out: Path) -> List[str]:
    """HLG.fst and words.txt from the lang dir, H.fst with k2; the names written."""
    from xlsr.graph.k2_utils import has_k2

    written = []
    if lang is not None and (lang / "HLG.fst").is_file() and (lang / "words.txt").is_file():
        for name in ("HLG.fst", "words.txt"):
            shutil.copy2(lang / name, out / name)
            written.append(name)
    else:
        logger.warning("no HLG.fst and words.txt in the lang dir %s: exporting without", lang)
    if has_k2():
        from xlsr.graph.compile import write_h_fst

        modified = bool((loaded.config.get("ctc") or {}).get("modified_topo", False))
        write_h_fst(len(loaded.vocabulary) - 1, out / "H.fst", modified=modified)
        written.append("H.fst")
    else:
        logger.warning("k2 is not installed: no H.fst (HLG.fst and greedy decoding work)")
    return written


def export_onnx(
    model: Pathlike,
    out_dir: Pathlike,
    checkpoint: str = "last",
    lang_dir: Optional[Pathlike] = None,
    int8: bool = False,
) -> Dict[str, Any]:
    """Writes the ONNX dir ``out_dir`` (see the module docstring); returns onnx.json's dict.

    Args:
        model: what ``xlsr.load_model`` reads.
        out_dir: new, empty, or an earlier ONNX export (replaced).
        checkpoint: exp dirs: "last", "averaged" or a checkpoint file.
        lang_dir: the lang dir (default: the model's); its HLG.fst and words.txt are copied.
        int8: also write the int8 models.

    Raises:
        CheckpointError / ValueError: naming the model, lang dir or output that is wrong.
    """
    import torch

    from xlsr.models import onnx_export as ox
    from xlsr.tasks.load import load_model
    from xlsr.utils.fingerprint import short_hash

    loaded = load_model(model, checkpoint=checkpoint, lang_dir=lang_dir)
    if loaded.task not in TASKS:
        raise ValueError(f"--model {model}: a {loaded.task} model; ONNX export covers {TASKS}")
    if loaded.vocabulary is None:
        raise ValueError(f"--model {model}: no vocabulary found; give the lang dir (--lang-dir)")
    out = Path(out_dir)
    prepare_out_dir(out, ONNX_INFO)
    lang = Path(lang_dir) if lang_dir is not None else loaded.lang_dir
    meta = {"vocab_size": len(loaded.vocabulary)}
    if loaded.task == "asr_ctc":
        files = ox.export_ctc(loaded.model, out, meta)
    else:
        files = ox.export_transducer(loaded.model, out, meta)
    if int8:
        for name in MODEL_FILES[loaded.task]:
            files += ox.quantize_int8(out / f"{name}.onnx", out / f"{name}.int8.onnx")
    write_tokens(loaded.vocabulary, out / "tokens.txt")
    extra = ["tokens.txt"]
    if loaded.task == "asr_ctc":
        extra += _graphs(loaded, lang, out)
    if lang is not None and (lang / "text_norm.json").is_file():
        shutil.copy2(lang / "text_norm.json", out / "text_norm.json")
        extra.append("text_norm.json")
    import onnx

    info = {
        "format": ONNX_FORMAT,
        "version": 1,
        "task": loaded.task,
        "source": [str(f) for f in loaded.files],
        "hash": [short_hash(f) for f in loaded.files if Path(f).is_file()],
        "kind": loaded.kind,
        "lang_dir": None if lang is None else str(lang),
        "files": {f.name: f.stat().st_size for f in files},
        "other_files": extra,
        "int8": int8,
        "opset": ox.OPSET,
        "ir_version": onnx.load(str(files[0]), load_external_data=False).ir_version,
        "torch": torch.__version__,
        "sherpa_exact": ox.sherpa_exact(loaded.model),
    }
    if loaded.task == "asr_ctc" and not info["sherpa_exact"]:
        logger.warning(
            "%s: the model does not normalise its input; sherpa-onnx normalises every "
            "utterance, so its results differ from PyTorch's (onnxruntime's do not)",
            model,
        )
    (out / ONNX_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out / ONNX_README).write_text(readme(out, info), encoding="utf-8")
    logger.info("ONNX export of %s (%s) in %s: %s", model, loaded.task, out, sorted(info["files"]))
    return info


def readme(out: Path, info: Dict[str, Any]) -> str:
    """README.md of an ONNX export: files and sizes, the commands that decode it."""
    sizes = [f"- `{name}`: {size / 2**20:.2f} MiB" for name, size in info["files"].items()]
    methods = (
        "sherpa-greedy,sherpa-hlg,ort-greedy,ort-hlg"
        if info["task"] == "asr_ctc"
        else "ort-greedy_search,ort-modified_beam_search"
    )
    lines = [
        f"# {info['task']} model in ONNX, exported from {', '.join(info['source'])}",
        "",
        *sizes,
        f"- also: {', '.join(info['other_files'])}",
        f"- opset {info['opset']}, IR version {info['ir_version']}, torch {info['torch']}",
        "",
        "Decode and score a test set (sherpa-onnx and onnxruntime):",
        "",
        "```",
        f"python -m xlsr.bin.decode_onnx --model {out} --cuts CUTS.jsonl.gz --methods {methods}"
        + (" --precisions fp32,int8" if info["int8"] else ""),
        "```",
    ]
    if info["task"] == "asr_ctc":
        lines += [
            "",
            "With sherpa-onnx alone (Python), the model takes raw 16 kHz samples:",
            "",
            "```python",
            "import sherpa_onnx",
            "from sherpa_onnx.lib._sherpa_onnx import OfflineOmnilingualAsrCtcModelConfig",
            "model = sherpa_onnx.OfflineModelConfig(",
            f"    omnilingual=OfflineOmnilingualAsrCtcModelConfig(model='{out}/model.onnx'),",
            f"    tokens='{out}/tokens.txt')",
            "config = sherpa_onnx.OfflineRecognizerConfig(model_config=model,",
            f"    ctc_fst_decoder_config=sherpa_onnx.OfflineCtcFstDecoderConfig("
            f"graph='{out}/HLG.fst', max_active=3000))",
            "```",
            "",
            "then `sherpa_onnx.offline_recognizer._Recognizer(config)` as in "
            "`xlsr.decode.onnx_clients.SherpaCtc`.",
        ]
    return "\n".join(lines) + "\n"
