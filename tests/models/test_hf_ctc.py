"""Existing Hugging Face Wav2Vec2ForCTC models: logits parity and lattice decoding of their
character output with an HLG built from a word LM."""

import json

import numpy as np
import pytest
import torch

from xlsr.models.hf_ctc import HfVocab, load_hf_ctc, prepare_hf_lang_dir
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config, write_hf_dir
from xlsr.testing.lang import SENTENCES

# HF's layout: pad (the blank) is not id 0 here, to check the reordering
VOCAB = ["<s>", "<pad>", "</s>", "<unk>", "|"] + list("ONETWHRFIVSXU")


def _fix_lm_head(path):
    """write_hf_dir writes a 12-way lm_head; make it match VOCAB."""
    from xlsr.models.fairseq_hf import read_safetensors
    from xlsr.testing.checkpoints import write_safetensors

    state = read_safetensors(path / "model.safetensors")
    torch.manual_seed(0)
    state["lm_head.weight"] = torch.randn(len(VOCAB), state["lm_head.weight"].shape[1])
    state["lm_head.bias"] = torch.randn(len(VOCAB))
    write_safetensors(state, path / "model.safetensors")
    return path


@pytest.fixture
def hf_dir(tmp_path):
    enc = random_encoder(tiny_config(), seed=2)
    path = write_hf_dir(enc, tmp_path / "hf", "Wav2Vec2ForCTC")
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(vocab_size=len(VOCAB), pad_token_id=1)
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    return _fix_lm_head(path)


def test_vocab_puts_the_blank_first(hf_dir):
    vocab = HfVocab(hf_dir)
    assert vocab.tokens[0] == "<pad>" and vocab.tokens[1] == "<s>" and vocab.hf_ids[:2] == [1, 0]
    assert vocab.uppercase()
    ids = [vocab.token_to_id[c] for c in "ONE|TWO"]
    assert vocab.decode(ids) == "ONE TWO"


def test_logits_match_transformers(hf_dir):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    model, vocab = load_hf_ctc(hf_dir)
    ref = transformers.Wav2Vec2ForCTC.from_pretrained(hf_dir).eval()
    wav, lengths = padded_batch([4000, 3000])
    with torch.no_grad():
        ours, frames = model(wav, lengths)
        theirs = ref(wav[:1]).logits.log_softmax(-1)[0]
    torch.testing.assert_close(ours[0, : frames[0]], theirs[:, vocab.hf_ids], rtol=1e-4, atol=1e-4)


def test_lm_head_of_the_wrong_size_is_refused(hf_dir):
    from xlsr.models.fairseq_hf import CheckpointError

    (hf_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB[:-1])}))
    with pytest.raises(CheckpointError, match="lm_head has 18 outputs, vocab.json 17 tokens"):
        load_hf_ctc(hf_dir)


@pytest.mark.parametrize("trailing_delimiter", [False, True])
def test_hlg_decodes_hf_character_posteriors_to_words(tmp_path, hf_dir, trailing_delimiter):
    pytest.importorskip("k2", reason="k2: k2 lane only")
    import kaldifst

    from xlsr.decode.ctc import one_best
    from xlsr.decode.graph_search import kaldi_best_path
    from xlsr.graph import compile as graph
    from xlsr.graph import lm
    from xlsr.graph.lexicon import symbol_table

    vocab = HfVocab(hf_dir)
    lang = tmp_path / "lang"
    sentences = [s for s in SENTENCES if all(w in ("one", "two", "three", "four", "five", "six") for w in s.split())]  # fmt: skip
    counts = prepare_hf_lang_dir(lang, vocab, {w for s in sentences for w in s.split()})
    assert counts["skipped"] == 0  # every word is spelled with the model's letters
    graph.make_lang_fsts(lang)
    (lang / "lm.txt").write_text("".join(s + "\n" for s in sentences))
    lm.train_arpa(lang / "lm.txt", lang / "3gram.arpa", 3)
    G = lm.make_G(lang / "3gram.arpa", lang / "words.txt", lang / "G.pt")
    HLG = graph.compile_hlg(graph.compile_lg(lang, G), vocab.vocab_size - 1)
    graph.write_hlg_fst(HLG, lang / "HLG.fst")
    sentence = "two three one"
    chars = "|".join(w.upper() for w in sentence.split()) + ("|" if trailing_delimiter else "")
    frames = []
    for c in chars:
        frames += [vocab.token_to_id[c]] * 2 + [0]
    probs = np.full((len(frames), vocab.vocab_size), 0.1 / (vocab.vocab_size - 1), np.float32)
    probs[np.arange(len(frames)), frames] = 0.9
    log_probs = torch.from_numpy(np.log(probs))[None]
    words = symbol_table(lang / "words.txt")
    expected = [words[w] for w in sentence.split()]
    assert one_best(HLG, log_probs, torch.tensor([len(frames)])) == [expected]
    fst = kaldifst.StdVectorFst.read(str(lang / "HLG.fst"))
    assert kaldi_best_path(fst, log_probs[0].numpy()) == expected


def test_decode_cli_on_an_hf_model(tmp_path, hf_dir, monkeypatch):
    # local/prepare_lang_hf.py + xlsr.bin.decode --task asr_ctc --hf-model write contract-3 files (random model,
    # so only the pipeline and the files are checked, not the WER)
    pytest.importorskip("k2", reason="k2: k2 lane only")
    import runpy
    import sys

    from xlsr.bin import decode
    from xlsr.scoring.results import recount
    from xlsr.testing.corpus import make_tiny_cutset

    cuts = make_tiny_cutset(tmp_path / "audio", n=4, durations=[1.0, 1.2, 0.8, 1.1])
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    (tmp_path / "lm.txt").write_text("one two\nthree\nfour five six\nseven\none\n")
    script = str(__import__("pathlib").Path(__file__).parents[2] / "local" / "prepare_lang_hf.py")
    monkeypatch.setattr(sys, "argv", [script, "--hf-model", str(hf_dir), "--lang-dir",
                                      str(tmp_path / "lang"), "--lm-text", str(tmp_path / "lm.txt")])  # fmt: skip
    runpy.run_path(script, run_name="__main__")
    assert (tmp_path / "lang" / "HLG.pt").exists()
    rc = decode.main(["--task", "asr_ctc", "--hf-model", str(hf_dir), "--exp-dir", str(tmp_path / "exp"),
                          "--lang-dir", str(tmp_path / "lang"), "--cuts", str(tmp_path / "cuts.jsonl.gz"),
                          "--test-set", "tiny", "--methods", "ctc-greedy-search,1best"])  # fmt: skip
    assert rc == 0
    for method in ("ctc-greedy-search", "1best"):
        d = tmp_path / "exp" / "decode" / method
        score = json.loads((d / "score-tiny.json").read_text())
        assert score["num_utterances"] == 4
        assert recount(d / "hyps-tiny.jsonl")["wer"] == pytest.approx(score["wer"])
