"""Clients of the exported ONNX models (xlsr.decode.onnx_clients): onnxruntime transducer
search equals PyTorch's; sherpa-onnx (greedy, HLG.fst, H.fst) equals k2, kaldi-decoder and
our CTC greedy search on a peaky tiny model (k2 lane for the graphs)."""

import shutil

import pytest
import torch

from xlsr.decode import ctc, transducer
from xlsr.decode.onnx_clients import OrtCtc, OrtTransducer, SherpaCtc, read_tokens, tokens_text
from xlsr.models import onnx_export as ox
from xlsr.testing.onnx import emitting_transducer_model, make_waveforms, peaky_ctc_model

K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"
VOCAB = 17
SECONDS = [0.5, 1.0, 2.0, 3.5, 5.0]  # the sherpa-onnx utterances


@pytest.fixture(scope="module")
def transducer_dir(tmp_path_factory):
    model = emitting_transducer_model(VOCAB)
    out = tmp_path_factory.mktemp("transducer_onnx")
    ox.export_transducer(model, out, {"vocab_size": VOCAB})
    return model, out


@pytest.fixture(scope="module")
def padded():
    return make_waveforms([1.0, 2.5, 0.5, 1.7], seed=11)


def _torch_and_ort(model, out, padded):
    waveforms, lengths = padded
    with torch.no_grad():
        encoder_out, frames = model(waveforms, lengths)
    ort = OrtTransducer(out)
    ort_out, ort_frames = ort(waveforms, lengths)
    assert ort_frames.tolist() == frames.tolist()
    return (encoder_out, frames), (ort, ort_out, ort_frames)


def test_ort_transducer_greedy_equals_torch(transducer_dir, padded):
    model, out = transducer_dir
    (enc, frames), (ort, ort_enc, ort_frames) = _torch_and_ort(model, out, padded)
    expected = transducer.greedy_search(model, enc, frames)
    got = transducer.greedy_search(ort, ort_enc, ort_frames)
    assert got == expected
    assert all(len(ids) > 3 for ids in expected)  # the model emits tokens ...
    assert len({t for ids in expected for t in ids}) > 3  # ... of several kinds


def test_ort_transducer_modified_beam_search_equals_torch(transducer_dir, padded):
    model, out = transducer_dir
    (enc, frames), (ort, ort_enc, ort_frames) = _torch_and_ort(model, out, padded)
    expected = transducer.modified_beam_search(model, enc, frames, beam=4)
    assert transducer.modified_beam_search(ort, ort_enc, ort_frames, beam=4) == expected
    assert all(len(ids) > 3 for ids in expected)


def test_ort_transducer_refuses_unprojected_use(transducer_dir):
    _, out = transducer_dir
    ort = OrtTransducer(out)
    with pytest.raises(ValueError, match="need_pad"):
        ort.decoder(torch.zeros(1, 2, dtype=torch.long), need_pad=True)
    with pytest.raises(ValueError, match="project_input"):
        ort.joiner(torch.zeros(1, 16), torch.zeros(1, 16), project_input=True)


def test_ort_transducer_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="encoder.int8.onnx"):
        OrtTransducer(tmp_path, ".int8")


def test_ort_ctc_is_called_like_the_model(tmp_path):
    """OrtCtc runs each utterance of a padded batch alone and pads with 0 past its frames."""
    model = peaky_ctc_model(VOCAB)
    ox.export_ctc(model, tmp_path, {"vocab_size": VOCAB})
    waveforms, lengths = make_waveforms([1.0, 0.5, 2.2], seed=3)
    with torch.no_grad():
        log_probs, frames = model(waveforms, lengths)
    ort = OrtCtc(tmp_path / "model.onnx")
    got, got_frames = ort(waveforms, lengths)
    assert got_frames.tolist() == frames.tolist() and got.shape == log_probs.shape
    for i, n in enumerate(frames.tolist()):
        assert (got[i, :n] - log_probs[i, :n]).abs().max() < 1e-4
        assert not got[i, n:].any()
    assert ort.seconds > 0


# ------------------------------------------------------------------ CTC: sherpa-onnx vs k2


@pytest.fixture(scope="module")
def ctc_dir(tmp_path_factory):
    """(peaky CTC model, ONNX dir with model.onnx, tokens.txt, HLG.fst, H.fst, words.txt,
    the lang dir) over the tiny lang dir's tokens."""
    pytest.importorskip("k2", reason=K2_REASON)
    from xlsr.graph.compile import write_h_fst
    from xlsr.tasks.onnx_export import write_tokens
    from xlsr.testing.lang import make_tiny_lang_dir

    lang = tmp_path_factory.mktemp("onnx_lang") / "lang"
    make_tiny_lang_dir(lang)
    symbols = read_tokens(lang / "tokenizer" / "tokens.txt")
    model = peaky_ctc_model(len(symbols))
    out = tmp_path_factory.mktemp("ctc_onnx")
    ox.export_ctc(model, out, {"vocab_size": len(symbols)})
    write_tokens(symbols, out / "tokens.txt")
    for name in ("HLG.fst", "words.txt"):
        shutil.copy2(lang / name, out / name)
    write_h_fst(len(symbols) - 1, out / "H.fst")
    return model, out, lang, symbols


@pytest.fixture(scope="module")
def utterances(ctc_dir):
    """(waveforms, lengths, PyTorch log-probs, frames) of the SECONDS utterances."""
    model = ctc_dir[0]
    waveforms, lengths = make_waveforms(SECONDS, seed=0)
    with torch.no_grad():
        log_probs, frames = model(waveforms, lengths)
    return waveforms, lengths, log_probs, frames


def _words(lang):
    table = {}
    for line in (lang / "words.txt").read_text(encoding="utf-8").splitlines():
        word, i = line.split()
        table[int(i)] = word
    return table


def test_sherpa_hlg_equals_k2_1best_and_kaldi(ctc_dir, utterances):
    from xlsr.decode.graph_search import best_path_words, k2_lattice, kaldi_best_path
    from xlsr.graph.compile import load_fsa

    _, out, lang, _ = ctc_dir
    waveforms, lengths, log_probs, frames = utterances
    words = _words(lang)
    lattice, order = k2_lattice(load_fsa(lang / "HLG.pt"), log_probs, frames)
    k2_text = [" ".join(words[w] for w in ids) for ids in best_path_words(lattice, order)]
    ort_lp, ort_frames = OrtCtc(out / "model.onnx")(waveforms, lengths)
    assert ort_frames.tolist() == frames.tolist()
    kaldi_text = [
        " ".join(words[w] for w in kaldi_best_path(str(out / "HLG.fst"), lp[:n].numpy(), 16, 3000))
        for lp, n in zip(ort_lp, ort_frames.tolist())
    ]
    sherpa_text = SherpaCtc(out / "model.onnx", out / "tokens.txt", out / "HLG.fst").decode_batch(
        waveforms, lengths
    )
    assert sherpa_text == k2_text == kaldi_text
    assert all(k2_text) and len(set(k2_text)) >= 3  # words on every path, differing


def test_sherpa_greedy_equals_our_greedy(ctc_dir, utterances):
    _, out, _, symbols = ctc_dir
    waveforms, lengths, log_probs, frames = utterances
    expected = [tokens_text(ids, symbols) for ids in ctc.greedy_search(log_probs, frames)]
    got = SherpaCtc(out / "model.onnx", out / "tokens.txt").decode_batch(waveforms, lengths)
    assert got == expected
    assert all(expected)


def test_sherpa_h_fst_equals_greedy(ctc_dir, utterances):
    """H.fst (the CTC topology, no words) allows every token sequence: its best path is the
    frame-wise best, i.e. greedy search."""
    _, out, _, symbols = ctc_dir
    waveforms, lengths, log_probs, frames = utterances
    expected = [tokens_text(ids, symbols) for ids in ctc.greedy_search(log_probs, frames)]
    sherpa = SherpaCtc(out / "model.onnx", out / "tokens.txt", out / "H.fst")
    assert sherpa.decode_batch(waveforms, lengths) == expected


# ------------------------------------------------------------------------------ read_tokens


@pytest.mark.parametrize(
    "text, match",
    [
        ("a 0\nb\n", r"tokens\.txt:2: expected 'symbol id'"),
        ("a 0\nb 2\n", r"tokens\.txt: token ids"),
    ],
)
def test_read_tokens_errors_name_the_file(tmp_path, text, match):
    path = tmp_path / "tokens.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_tokens(path)


def test_read_tokens_and_text(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("<blk> 0\n\u2581 1\na 2\nb 3\n", encoding="utf-8")
    symbols = read_tokens(path)
    assert symbols == ["<blk>", "\u2581", "a", "b"]
    assert tokens_text([1, 2, 3, 1, 1, 3, 1], symbols) == "ab b"


def test_sherpa_missing_file_is_named(tmp_path):
    pytest.importorskip("sherpa_onnx")
    with pytest.raises(FileNotFoundError, match="model.onnx"):
        SherpaCtc(tmp_path / "model.onnx", tmp_path / "tokens.txt")
