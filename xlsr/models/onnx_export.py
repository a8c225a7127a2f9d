"""ONNX forms of the CTC and transducer models, and writing them (``torch.onnx.export``).

    CTC (sherpa-onnx "omnilingual ASR" CTC layout: raw samples in, one input):
        model.onnx     x (N, S) float32 16 kHz  ->  log_probs (N, T, V) float32 log-softmax
    transducer (icefall's layout; encoder_out and decoder_out already projected to the
    joiner's width, as icefall's export-onnx.py writes them):
        encoder.onnx   x (N, S) float32, x_lens (N,) int64 -> encoder_out (N, T, joiner_dim),
                       encoder_out_lens (N,) int64
        decoder.onnx   y (N, context_size) int64 -> decoder_out (N, joiner_dim)
        joiner.onnx    encoder_out (N, joiner_dim), decoder_out (N, joiner_dim) -> logit (N, V)

Every length is dynamic (N and S; T follows S). Waveform normalisation (``normalize_waveform``)
is inside the graph, as in the PyTorch model: feed raw samples. sherpa-onnx normalises each
utterance itself (zero mean, unit variance, eps 1e-5) before the model; normalising twice gives
the same output up to the eps (tested), so the exported CTC model is exact under sherpa-onnx
for every model that normalises (XLS-R, and our from-scratch presets). A model without
normalisation (wav2vec 2.0 base style) is not: :func:`sherpa_exact` says so and the export
records it.

Exporter: the TorchScript exporter (``dynamo=False`` where torch >= 2.9 would default to the
dynamo one) at opset 17, on torch 1.13 and 2.x alike; files written with IR version <= 10
(the onnxruntime inside sherpa-onnx 2.0.1 refuses newer); one file up to 2 GB, above that the
weights in ``<file>.data`` beside it (XLS-R 1B / 2B). ``int8=True`` quantises the MatMul weights
dynamically to int8 (onnxruntime ``quantize_dynamic``), written as ``<name>.int8.onnx``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from xlsr.models.components import ConvBlock, SelfAttention

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]

OPSET = 17
#: the newest ONNX IR version the onnxruntime of sherpa-onnx 2.0.1 (1.17-1.19) reads
MAX_IR_VERSION = 10
#: protobuf's limit: larger models keep their weights in an external data file
MAX_PROTO_BYTES = 2**31 - 1
AUTHOR = "xlsr-k2"


class CtcForOnnx(nn.Module):
    """A CTC model as sherpa-onnx runs it: raw samples (N, S) -> log-probs (N, T, V).

    No lengths input (sherpa-onnx feeds one utterance, unpadded): a batch is N utterances of
    S samples each.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.encoder, self.output = model.encoder, model.output

    def forward(self, x: Tensor) -> Tensor:
        hidden, _ = self.encoder.traced_forward(x)
        return self.output(hidden).float().log_softmax(dim=-1)


class TransducerEncoderForOnnx(nn.Module):
    """x (N, S), x_lens (N,) -> encoder_out (N, T, joiner_dim), encoder_out_lens (N,)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.encoder, self.encoder_proj = model.encoder, model.joiner.encoder_proj

    def forward(self, x: Tensor, x_lens: Tensor) -> Tuple[Tensor, Tensor]:
        hidden, frames = self.encoder.traced_forward(x, x_lens)
        return self.encoder_proj(hidden), frames


class TransducerDecoderForOnnx(nn.Module):
    """y (N, context_size) -> decoder_out (N, joiner_dim)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.decoder, self.decoder_proj = model.decoder, model.joiner.decoder_proj

    def forward(self, y: Tensor) -> Tensor:
        return self.decoder_proj(self.decoder(y, need_pad=False).squeeze(1))


class TransducerJoinerForOnnx(nn.Module):
    """encoder_out (N, joiner_dim), decoder_out (N, joiner_dim) -> logit (N, V)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.joiner = model.joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner(encoder_out, decoder_out, project_input=False)


@contextlib.contextmanager
def export_mode() -> Iterator[None]:
    """Graph-friendly kernels while exporting: ``conv1d`` for the feature encoder (not the CPU
    unfold path) and the explicit softmax attention (not ``scaled_dot_product_attention``).
    Both compute the same functions as the defaults."""
    saved = ConvBlock.use_unfold, SelfAttention.use_sdpa
    ConvBlock.use_unfold, SelfAttention.use_sdpa = False, False
    try:
        yield
    finally:
        ConvBlock.use_unfold, SelfAttention.use_sdpa = saved


def sherpa_exact(model: nn.Module) -> bool:
    """Whether sherpa-onnx's own per-utterance normalisation leaves the CTC model's output
    unchanged: the model normalises its input itself."""
    return bool(model.encoder.cfg.normalize_waveform)


def _torch_export(
    module: nn.Module,
    args: Tuple[Tensor, ...],
    path: Path,
    input_names: List[str],
    output_names: List[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    kwargs = dict(
        input_names=input_names,
        output_names=output_names,
        dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
        opset_version=OPSET,
        do_constant_folding=True,
    )
    if "dynamo" in torch.onnx.export.__code__.co_varnames:  # torch >= 2.5
        kwargs["dynamo"] = False
    with torch.no_grad(), export_mode(), warnings.catch_warnings():
        # the decoder's check of its context width is a Python comparison of a traced shape
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module.eval(), args, str(path), **kwargs)


def write_model(proto, path: Path, external: Optional[bool] = None) -> List[Path]:
    """Saves ``proto`` at ``path`` with IR version <= :data:`MAX_IR_VERSION`; the weights go
    to ``<path>.data`` when ``external`` (default: when the model exceeds 2 GB). Returns the
    files written."""
    import onnx

    if proto.ir_version > MAX_IR_VERSION:
        proto.ir_version = MAX_IR_VERSION
    if external is None:
        try:
            external = proto.ByteSize() > MAX_PROTO_BYTES
        except Exception:  # noqa: BLE001 - protobuf cannot even size a message over 2 GB
            external = True
    data = path.with_name(path.name + ".data")
    if data.exists():
        data.unlink()
    if external:
        onnx.save_model(
            proto,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data.name,
            size_threshold=1024,
        )
        return [path, data]
    onnx.save_model(proto, str(path))
    return [path]


def export_module(
    module: nn.Module,
    args: Tuple[Tensor, ...],
    path: Pathlike,
    input_names: List[str],
    output_names: List[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    meta: Mapping[str, object],
    external: Optional[bool] = None,
) -> List[Path]:
    """Exports ``module`` (traced on ``args``) to ``path`` with ``meta`` as metadata_props
    (values as strings), checked by ``onnx.checker``. Returns the files written."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / path.name
        _torch_export(module, args, raw, input_names, output_names, dynamic_axes)
        proto = onnx.load(str(raw))  # external tensors of a large export are read in
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    files = write_model(proto, path, external)
    onnx.checker.check_model(str(path))
    logger.info("%s: ONNX written (%s)", path, _size_text(files))
    return files


def quantize_int8(src: Pathlike, dst: Pathlike) -> List[Path]:
    """Dynamic int8 quantisation of the MatMul weights of ``src`` into ``dst`` (onnxruntime
    ``quantize_dynamic``; activations stay float and are quantised at run time). The
    metadata is kept. Returns the files written."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    external = src.with_name(src.name + ".data").exists()
    quiet = logging.getLogger()  # quantize_dynamic advises pre-processing on the root logger
    level = quiet.level
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        raw = Path(tmp) / dst.name
        quiet.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                str(src),
                str(raw),
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
                use_external_data_format=external,
            )
        finally:
            quiet.setLevel(level)
        proto = onnx.load(str(raw))
    files = write_model(proto, dst, external or None)
    logger.info("%s: int8 ONNX written (%s)", dst, _size_text(files))
    return files


def _size_text(files: Sequence[Path]) -> str:
    return ", ".join(f"{f.name} {f.stat().st_size / 2**20:.2f} MiB" for f in files)


def _example_audio(batch: int = 1, samples: int = 16000) -> Tensor:
    return torch.randn(batch, samples, generator=torch.Generator().manual_seed(0)) * 0.1


def export_ctc(model: nn.Module, out_dir: Pathlike, meta: Mapping[str, object]) -> List[Path]:
    """``out_dir/model.onnx``: raw samples -> log-probs (:class:`CtcForOnnx`)."""
    vocab = model.output.out_features
    info = {"model_type": "xlsr_ctc", "vocab_size": vocab, **_common_meta(model), **meta}
    return export_module(
        CtcForOnnx(model),
        (_example_audio(),),
        Path(out_dir) / "model.onnx",
        ["x"],
        ["log_probs"],
        {"x": {0: "N", 1: "S"}, "log_probs": {0: "N", 1: "T"}},
        info,
    )


def export_transducer(
    model: nn.Module, out_dir: Pathlike, meta: Mapping[str, object]
) -> List[Path]:
    """``out_dir/{encoder,decoder,joiner}.onnx`` in icefall's layout (module docstring)."""
    out_dir, cfg = Path(out_dir), model.cfg
    x = _example_audio(2, 16000)
    x_lens = torch.tensor([16000, 12000], dtype=torch.long)
    common = {**_common_meta(model), **meta}
    files = export_module(
        TransducerEncoderForOnnx(model),
        (x, x_lens),
        out_dir / "encoder.onnx",
        ["x", "x_lens"],
        ["encoder_out", "encoder_out_lens"],
        {
            "x": {0: "N", 1: "S"},
            "x_lens": {0: "N"},
            "encoder_out": {0: "N", 1: "T"},
            "encoder_out_lens": {0: "N"},
        },
        {"model_type": "xlsr_transducer", **common},
    )
    y = torch.zeros(2, cfg.context_size, dtype=torch.long)
    files += export_module(
        TransducerDecoderForOnnx(model),
        (y,),
        out_dir / "decoder.onnx",
        ["y"],
        ["decoder_out"],
        {"y": {0: "N"}, "decoder_out": {0: "N"}},
        {"context_size": cfg.context_size, "vocab_size": cfg.vocab_size, **common},
    )
    enc = torch.zeros(2, cfg.joiner_dim)
    files += export_module(
        TransducerJoinerForOnnx(model),
        (enc, enc.clone()),
        out_dir / "joiner.onnx",
        ["encoder_out", "decoder_out"],
        ["logit"],
        {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}},
        {"joiner_dim": cfg.joiner_dim, **common},
    )
    return files


def _common_meta(model: nn.Module) -> Dict[str, object]:
    return {
        "model_author": AUTHOR,
        "sample_rate": 16000,
        "samples_per_frame": model.encoder.cfg.samples_per_frame,
        "normalize_waveform": int(bool(model.encoder.cfg.normalize_waveform)),
    }


def read_meta(path: Pathlike) -> Dict[str, str]:
    """The metadata_props of an ONNX file, as strings."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
