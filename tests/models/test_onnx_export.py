"""ONNX forms of the CTC and transducer models (xlsr.models.onnx_export) under onnxruntime
against PyTorch, on tiny random models. Runs in both lanes (torch 1.13 and 2.x)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from xlsr.models import onnx_export as ox
from xlsr.models.components import ConvBlock, SelfAttention
from xlsr.testing.onnx import (
    emitting_transducer_model,
    make_waveform,
    make_waveforms,
    peaky_ctc_model,
    sherpa_normalize,
)

VOCAB = 17
TOL = 1e-4  # max abs difference of ONNX and PyTorch outputs (float32, different kernels)
INT8_ARGMAX = 0.9  # int8 CTC: share of frames with the fp32 argmax (0.97+ measured)


def _session(path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def ctc(tmp_path_factory):
    """(peaky CTC model, its export dir with model.onnx and model.int8.onnx)."""
    model = peaky_ctc_model(VOCAB)
    out = tmp_path_factory.mktemp("ctc_onnx")
    ox.export_ctc(model, out, {"vocab_size": VOCAB})
    ox.quantize_int8(out / "model.onnx", out / "model.int8.onnx")
    return model, out


@pytest.fixture(scope="module")
def transducer(tmp_path_factory):
    """(emitting transducer model, its export dir with encoder/decoder/joiner.onnx)."""
    model = emitting_transducer_model(VOCAB)
    out = tmp_path_factory.mktemp("transducer_onnx")
    ox.export_transducer(model, out, {"vocab_size": VOCAB})
    return model, out


def _torch_ctc(model, waveforms):
    lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
    with torch.no_grad():
        log_probs, frames = model(waveforms, lengths)
    return log_probs.numpy(), frames


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.0, 10.0])
def test_ctc_log_probs_equal_torch(ctc, seconds):
    model, out = ctc
    x = make_waveform(seconds, seed=int(seconds * 10))[None]
    expected, frames = _torch_ctc(model, x)
    got = _session(out / "model.onnx").run(None, {"x": x.numpy()})[0]
    assert got.shape == expected.shape == (1, int(frames[0]), VOCAB)
    assert np.abs(got - expected).max() < TOL


def test_ctc_batch_of_equal_lengths_equal_torch(ctc):
    model, out = ctc
    x = torch.stack([make_waveform(1.5, seed=s) for s in range(3)])
    expected, _ = _torch_ctc(model, x)
    got = _session(out / "model.onnx").run(None, {"x": x.numpy()})[0]
    assert got.shape == expected.shape and got.shape[0] == 3
    assert np.abs(got - expected).max() < TOL


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.0, 10.0])
def test_ctc_sherpa_prenormalised_input_is_harmless(ctc, seconds):
    """sherpa-onnx normalises each utterance before the model, which normalises again: the
    output equals PyTorch's on the raw samples."""
    model, out = ctc
    x = make_waveform(seconds, seed=int(seconds * 10) + 1)[None]
    expected, _ = _torch_ctc(model, x)
    got = _session(out / "model.onnx").run(None, {"x": sherpa_normalize(x).numpy()})[0]
    assert np.abs(got - expected).max() < TOL
    assert ox.sherpa_exact(model)


def test_transducer_encoder_equals_torch_on_padded_batch(transducer):
    model, out = transducer
    waveforms, lengths = make_waveforms([1.0, 2.5, 0.5])
    with torch.no_grad():
        encoder_out, frames = model(waveforms, lengths)
        expected = model.joiner.encoder_proj(encoder_out)
    got, got_frames = _session(out / "encoder.onnx").run(
        None, {"x": waveforms.numpy(), "x_lens": lengths.numpy()}
    )
    assert got_frames.dtype == np.int64
    assert got_frames.tolist() == frames.tolist()
    assert got.shape == tuple(expected.shape)
    for i, n in enumerate(frames.tolist()):
        assert np.abs(got[i, :n] - expected[i, :n].numpy()).max() < TOL


def test_transducer_decoder_and_joiner_equal_torch(transducer):
    model, out = transducer
    cfg = model.cfg
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, VOCAB, (5, cfg.context_size), generator=g)
    with torch.no_grad():
        expected = model.joiner.decoder_proj(model.decoder(y, need_pad=False).squeeze(1))
    got = _session(out / "decoder.onnx").run(None, {"y": y.numpy()})[0]
    assert got.shape == (5, cfg.joiner_dim)
    assert np.abs(got - expected.numpy()).max() < TOL

    enc = torch.randn(7, cfg.joiner_dim, generator=g)
    dec = torch.randn(7, cfg.joiner_dim, generator=g)
    with torch.no_grad():
        logits = model.joiner(enc, dec, project_input=False)
    feeds = {"encoder_out": enc.numpy(), "decoder_out": dec.numpy()}
    got = _session(out / "joiner.onnx").run(None, feeds)[0]
    assert got.shape == (7, VOCAB)
    assert np.abs(got - logits.numpy()).max() < TOL


@pytest.mark.parametrize(
    "fixture, names",
    [("ctc", ["model", "model.int8"]), ("transducer", ["encoder", "decoder", "joiner"])],
)
def test_ir_version_and_opset(request, fixture, names):
    _, out = request.getfixturevalue(fixture)
    for name in names:
        proto = onnx.load(str(out / f"{name}.onnx"))
        assert proto.ir_version <= ox.MAX_IR_VERSION, name
        opsets = {o.domain: o.version for o in proto.opset_import}
        assert opsets.get("", opsets.get("ai.onnx")) == ox.OPSET, (name, opsets)


def test_metadata(ctc, transducer):
    (_, ctc_dir), (model, t_dir) = ctc, transducer
    meta = ox.read_meta(ctc_dir / "model.onnx")
    assert meta["model_type"] == "xlsr_ctc" and meta["vocab_size"] == str(VOCAB)
    assert meta["model_author"] == ox.AUTHOR and meta["sample_rate"] == "16000"
    assert meta["samples_per_frame"] == "320" and meta["normalize_waveform"] == "1"
    assert ox.read_meta(ctc_dir / "model.int8.onnx")["vocab_size"] == str(VOCAB)  # kept
    assert ox.read_meta(t_dir / "encoder.onnx")["model_type"] == "xlsr_transducer"
    dec = ox.read_meta(t_dir / "decoder.onnx")
    assert dec["context_size"] == str(model.cfg.context_size)
    assert dec["vocab_size"] == str(VOCAB)
    assert ox.read_meta(t_dir / "joiner.onnx")["joiner_dim"] == str(model.cfg.joiner_dim)


def test_int8_is_smaller_and_close(ctc):
    model, out = ctc
    fp32, int8 = out / "model.onnx", out / "model.int8.onnx"
    assert int8.stat().st_size < fp32.stat().st_size
    x = make_waveform(3.0, seed=7)[None].numpy()
    ref = _session(fp32).run(None, {"x": x})[0]
    got = _session(int8).run(None, {"x": x})[0]
    assert got.shape == ref.shape
    agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
    assert agree >= INT8_ARGMAX, agree
    assert np.abs(got - ref).max() < 1.0  # close-ish: quantisation noise, not another model


def test_external_data_written_and_loaded(ctc, tmp_path):
    model, out = ctc
    x = make_waveform(1.0, seed=3)[None].numpy()
    ref = _session(out / "model.onnx").run(None, {"x": x})[0]
    path = tmp_path / "model.onnx"
    files = ox.write_model(onnx.load(str(out / "model.onnx")), path, external=True)
    data = tmp_path / "model.onnx.data"
    assert files == [path, data] and data.is_file()
    assert path.stat().st_size < data.stat().st_size  # the weights are in the data file
    assert np.array_equal(_session(path).run(None, {"x": x})[0], ref)
    # writing again in one file removes the stale data file
    assert ox.write_model(onnx.load(str(path)), path, external=False) == [path]
    assert not data.exists()
    assert np.array_equal(_session(path).run(None, {"x": x})[0], ref)


def test_export_module_external(transducer, tmp_path):
    model, out = transducer
    y = torch.zeros(2, model.cfg.context_size, dtype=torch.long)
    path = tmp_path / "decoder.onnx"
    files = ox.export_module(
        ox.TransducerDecoderForOnnx(model),
        (y,),
        path,
        ["y"],
        ["decoder_out"],
        {"y": {0: "N"}, "decoder_out": {0: "N"}},
        {"context_size": model.cfg.context_size},
        external=True,
    )
    assert files == [path, tmp_path / "decoder.onnx.data"] and files[1].is_file()
    assert ox.read_meta(path)["context_size"] == str(model.cfg.context_size)
    y = torch.tensor([[0, 3], [5, 7], [1, 1]])
    got = _session(path).run(None, {"y": y.numpy()})[0]
    ref = _session(out / "decoder.onnx").run(None, {"y": y.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-6


def test_export_leaves_the_model_and_kernels_as_they_were(tmp_path):
    model = peaky_ctc_model(VOCAB, seed=1)
    x = make_waveform(1.0, seed=5)[None]
    saved = ConvBlock.use_unfold, SelfAttention.use_sdpa
    try:
        ConvBlock.use_unfold, SelfAttention.use_sdpa = True, SelfAttention.use_sdpa
        before, _ = _torch_ctc(model, x)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        ox.export_ctc(model, tmp_path, {})
        assert (ConvBlock.use_unfold, SelfAttention.use_sdpa) == (True, saved[1])
        after, _ = _torch_ctc(model, x)
        assert np.array_equal(before, after)
        assert not model.training
        assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
        with pytest.raises(RuntimeError), ox.export_mode():  # restored on errors too
            assert (ConvBlock.use_unfold, SelfAttention.use_sdpa) == (False, False)
            raise RuntimeError("inside")
        assert (ConvBlock.use_unfold, SelfAttention.use_sdpa) == (True, saved[1])
    finally:
        ConvBlock.use_unfold, SelfAttention.use_sdpa = saved


def test_a_model_without_normalisation_is_not_sherpa_exact(tmp_path):
    """A wav2vec 2.0 base style model (no ``normalize_waveform``) gives other outputs once
    sherpa-onnx has normalised its input: ``sherpa_exact`` says so, and the graph has no
    normalisation of its own (onnxruntime on raw samples still equals PyTorch)."""
    from xlsr.models.ctc import CtcConfig, CtcModel
    from xlsr.testing.checkpoints import random_encoder, tiny_config

    encoder = random_encoder(tiny_config(normalize_waveform=False), seed=1)
    model = CtcModel(encoder, CtcConfig(VOCAB, loss="torch")).eval()
    assert not ox.sherpa_exact(model)
    ox.export_ctc(model, tmp_path, {})
    assert ox.read_meta(tmp_path / "model.onnx")["normalize_waveform"] == "0"
    x = make_waveform(1.0, seed=3)[None] * 0.3 + 0.05  # an offset and a scale to undo
    expected, _ = _torch_ctc(model, x)
    session = _session(tmp_path / "model.onnx")
    assert np.abs(session.run(None, {"x": x.numpy()})[0] - expected).max() < TOL
    prenormalised = session.run(None, {"x": sherpa_normalize(x).numpy()})[0]
    assert np.abs(prenormalised - expected).max() > 1e-3
