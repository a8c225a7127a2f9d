"""Clients of the exported ONNX models (:mod:`xlsr.models.onnx_export`): sherpa-onnx and
onnxruntime.

| client                  | model                          | decoding                        |
|-------------------------|--------------------------------|---------------------------------|
| :class:`SherpaCtc`      | model.onnx (raw samples)       | sherpa-onnx greedy, or HLG.fst / H.fst with kaldi-decoder's FasterDecoder inside sherpa-onnx |
| :class:`OrtCtc`         | model.onnx                     | onnxruntime log-probs; then any CTC method (:func:`xlsr.decode.ctc.greedy_search`, :func:`xlsr.decode.graph_search.kaldi_best_path` on HLG.fst) |
| :class:`OrtTransducer`  | encoder / decoder / joiner.onnx | onnxruntime; our greedy and modified beam search (:mod:`xlsr.decode.transducer`) run on it unchanged |

sherpa-onnx's CTC-FST text is spelt from the tokens of the best path (``▁`` starts a word), as
its greedy text is; :func:`tokens_text` spells token ids the same way for the other clients.

sherpa-onnx normalises each utterance (zero mean, unit variance) before the model; the exported
CTC model normalises again inside, which changes nothing beyond the eps (see
:mod:`xlsr.models.onnx_export`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

Pathlike = Union[str, Path]
WORD_START = "\u2581"  # ▁
SAMPLE_RATE = 16000


def read_tokens(path: Pathlike) -> List[str]:
    """``symbol id`` lines (tokens.txt) -> symbols by id; ValueError naming the file when the
    ids are not 0..N-1."""
    table: Dict[int, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{path}:{n}: expected 'symbol id', got {line!r}")
        table[int(fields[1])] = fields[0]
    if sorted(table) != list(range(len(table))):
        raise ValueError(f"{path}: token ids are not 0..{len(table) - 1}")
    return [table[i] for i in range(len(table))]


def tokens_text(ids: Sequence[int], symbols: Sequence[str]) -> str:
    """Token ids -> text as sherpa-onnx spells it: symbols joined, ``▁`` a space, trimmed."""
    text = "".join(symbols[i] for i in ids).replace(WORD_START, " ")
    return " ".join(text.split())


def _ort_session(path: Pathlike, num_threads: int):
    import onnxruntime as ort

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file (export it with xlsr.bin.export_onnx)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _utterances(waveforms: Tensor, lengths: Tensor) -> List[np.ndarray]:
    x = waveforms.float().cpu().numpy()
    return [np.ascontiguousarray(x[i, : int(n)]) for i, n in enumerate(lengths.tolist())]


class OrtCtc:
    """The CTC model.onnx under onnxruntime, called like the PyTorch model.

    ``ort(waveforms, lengths) -> (log_probs (B, T, V), frames (B,))``: one run per utterance
    (the model has no lengths input), padded with log(1) = 0 past each utterance's frames.
    ``seconds`` sums the time spent in onnxruntime.
    """

    def __init__(self, path: Pathlike, num_threads: int = 1) -> None:
        self.session = _ort_session(path, num_threads)
        self.seconds = 0.0

    def log_probs(self, samples: np.ndarray) -> np.ndarray:
        """samples (S,) float32 -> log-probs (T, V)."""
        start = time.perf_counter()
        out = self.session.run(None, {"x": samples[None].astype(np.float32, copy=False)})[0]
        self.seconds += time.perf_counter() - start
        return out[0]

    def __call__(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        outs = [self.log_probs(x) for x in _utterances(waveforms, lengths)]
        frames = torch.tensor([o.shape[0] for o in outs], dtype=torch.long)
        padded = np.zeros((len(outs), int(frames.max()), outs[0].shape[1]), dtype=np.float32)
        for i, o in enumerate(outs):
            padded[i, : o.shape[0]] = o
        return torch.from_numpy(padded), frames


class SherpaCtc:
    """A sherpa-onnx ``OfflineRecognizer`` over the exported CTC model (the "omnilingual ASR"
    CTC model type: raw samples in), greedy or with a decoding graph.

    ``OfflineRecognizer.from_omnilingual_asr_ctc`` (sherpa-onnx 2.0.1) takes no graph, so the
    config is built here: ``OfflineModelConfig(omnilingual=...)`` and, with ``graph``,
    ``OfflineCtcFstDecoderConfig(graph, max_active)`` (kaldi-decoder's FasterDecoder, beam 16
    fixed inside sherpa-onnx).

    Args:
        model: model.onnx (or model.int8.onnx).
        tokens: tokens.txt (``symbol id``).
        graph: HLG.fst or H.fst (OpenFst; input labels token id + 1), None for greedy.
        max_active: FasterDecoder's max active states.
        num_threads: onnxruntime threads.
    """

    def __init__(
        self,
        model: Pathlike,
        tokens: Pathlike,
        graph: Optional[Pathlike] = None,
        max_active: int = 3000,
        num_threads: int = 1,
    ) -> None:
        import sherpa_onnx
        from sherpa_onnx.lib._sherpa_onnx import OfflineOmnilingualAsrCtcModelConfig
        from sherpa_onnx.offline_recognizer import _Recognizer

        for path in (model, tokens, graph):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"{path}: no such file (sherpa-onnx client)")
        model_cfg = sherpa_onnx.OfflineModelConfig(
            omnilingual=OfflineOmnilingualAsrCtcModelConfig(model=str(model)),
            tokens=str(tokens),
            num_threads=num_threads,
        )
        fst = sherpa_onnx.OfflineCtcFstDecoderConfig(
            graph=str(graph) if graph else "", max_active=max_active
        )
        self.config = sherpa_onnx.OfflineRecognizerConfig(
            model_config=model_cfg, ctc_fst_decoder_config=fst
        )
        self.recognizer = _Recognizer(self.config)

    def decode(self, samples: np.ndarray) -> str:
        """One utterance, (S,) float32 at 16 kHz -> its text."""
        stream = self.recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, samples.astype(np.float32, copy=False))
        self.recognizer.decode_stream(stream)
        return stream.result.text.strip()

    def decode_batch(self, waveforms: Tensor, lengths: Tensor) -> List[str]:
        return [self.decode(x) for x in _utterances(waveforms, lengths)]


class _OrtDecoder:
    """decoder.onnx as :mod:`xlsr.decode.transducer` calls ``model.decoder``: (N,
    context_size) ids -> (N, 1, joiner_dim) (already projected: ``decoder_proj`` is the
    identity)."""

    def __init__(self, session, context_size: int, vocab_size: int) -> None:
        self.session, self.context_size, self.vocab_size = session, context_size, vocab_size
        self.blank_id = 0

    def __call__(self, y: Tensor, need_pad: bool = False) -> Tensor:
        if need_pad:
            raise ValueError("decoder.onnx computes the decoding form only (need_pad=False)")
        out = self.session.run(None, {"y": y.cpu().numpy().astype(np.int64)})[0]
        return torch.from_numpy(out)[:, None]


class _Identity:
    def __init__(self, in_features: int) -> None:
        self.in_features = in_features

    def __call__(self, x: Tensor) -> Tensor:
        return x


class _OrtJoiner:
    """joiner.onnx as ``model.joiner``: inputs arrive projected (by encoder.onnx and
    decoder.onnx), so ``encoder_proj`` and ``decoder_proj`` are identities."""

    def __init__(self, session, joiner_dim: int) -> None:
        self.session = session
        self.encoder_proj = _Identity(joiner_dim)
        self.decoder_proj = _Identity(joiner_dim)

    def __call__(self, enc: Tensor, dec: Tensor, project_input: bool = False) -> Tensor:
        if project_input:
            raise ValueError("joiner.onnx takes projected inputs (project_input=False)")
        enc, dec = torch.broadcast_tensors(enc, dec)
        shape = enc.shape[:-1]
        feeds = {
            "encoder_out": enc.reshape(-1, enc.shape[-1]).float().numpy(),
            "decoder_out": dec.reshape(-1, dec.shape[-1]).float().numpy(),
        }
        logit = torch.from_numpy(self.session.run(None, feeds)[0])
        return logit.reshape(*shape, logit.shape[-1])


class OrtTransducer:
    """encoder / decoder / joiner.onnx under onnxruntime, shaped like our
    ``TransducerModel`` for :mod:`xlsr.decode.transducer`'s greedy and modified beam search.

    ``ort(waveforms, lengths) -> (encoder_out (B, T, joiner_dim), frames (B,))`` runs the
    encoder on the padded batch; ``decoder`` and ``joiner`` run the other two files.

    Args:
        model_dir: the exported dir.
        suffix: "" (fp32) or ".int8".
        num_threads: onnxruntime threads.
    """

    def __init__(self, model_dir: Pathlike, suffix: str = "", num_threads: int = 1) -> None:
        from xlsr.models.onnx_export import read_meta

        d = Path(model_dir)
        files = [d / f"{part}{suffix}.onnx" for part in ("encoder", "decoder", "joiner")]
        self.encoder = _ort_session(files[0], num_threads)
        dec_meta, join_meta = read_meta(files[1]), read_meta(files[2])
        self.decoder = _OrtDecoder(
            _ort_session(files[1], num_threads),
            int(dec_meta["context_size"]),
            int(dec_meta["vocab_size"]),
        )
        self.joiner = _OrtJoiner(_ort_session(files[2], num_threads), int(join_meta["joiner_dim"]))
        self.seconds = 0.0

    def __call__(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        start = time.perf_counter()
        feeds = {"x": waveforms.float().cpu().numpy(), "x_lens": lengths.cpu().long().numpy()}
        out, out_lens = self.encoder.run(None, feeds)
        self.seconds += time.perf_counter() - start
        return torch.from_numpy(out), torch.from_numpy(out_lens).long()
