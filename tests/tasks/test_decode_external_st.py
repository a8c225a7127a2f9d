"""Existing ST models through ``python -m xlsr.bin.decode --task st --model PATH`` and
``xlsr.load_model``: a Hugging Face SpeechEncoderDecoderModel dir with its MBart50Tokenizer
and a fairseq xm_transformer checkpoint with its dict.txt + sentencepiece model decode every
utterance to the hypothesis of greedy search on the model's own weights, decoded by the
model's own vocabulary (modern lane: transformers' ``generate`` and ``MBart50Tokenizer``);
a model given to another task, another task's model given to st and a model without its
vocabulary are refused, naming what is wrong."""

import json

import pytest
import torch

import xlsr
from xlsr.bin import decode as decode_bin
from xlsr.data.translation import st_pairs
from xlsr.decode.st_search import SearchConfig, greedy_search
from xlsr.scoring.results import read_hyps
from xlsr.testing.checkpoints import (
    random_encoder,
    random_st_model,
    tiny_config,
    write_fairseq_checkpoint,
    write_fairseq_st_checkpoint,
    write_fairseq_st_vocabulary,
    write_hf_classifier_dir,
    write_hf_dir,
    write_hf_mbart50_tokenizer,
    write_hf_st_dir,
)
from xlsr.testing.corpus import make_tiny_cutset

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")
#: target texts the tiny sentencepiece models are trained on
TEXTS = [
    "one two three four five six seven eight nine ten",
    "eins zwei drei vier fünf sechs sieben acht neun zehn",
    "un deux trois quatre cinq six sept huit neuf dix",
] * 4
MAX_LEN = 10  # --max-len-b; transformers: max_new_tokens = MAX_LEN + 2 (start, tag)
SEARCH = ["--methods", "greedy_search", "--max-len-b", str(MAX_LEN), "--min-len", "0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """6 utterances (en de fr de en fr) of 0.6..1.4 s in one padded batch: ``pairs``, the 4
    non-English ones to English (st_pairs, tgt_lang en); ``plain``, all 6 without a target
    language (decoded with --tgt-lang)."""
    root = tmp_path_factory.mktemp("st_ext")
    cuts = make_tiny_cutset(root / "audio", n=6, durations=[0.6, 1.0, 1.4, 0.8, 1.2, 0.7])
    cuts.to_file(root / "plain.jsonl.gz")
    pairs = st_pairs(cuts, "x-en")
    pairs.to_file(root / "pairs.jsonl.gz")
    (root / "lang").mkdir()
    return root, {"pairs": pairs, "plain": cuts}


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("hf_st") / "model"
    vocab_size = write_hf_mbart50_tokenizer(path, TEXTS)
    model = random_st_model(vocab_size, seed=3)
    write_hf_st_dir(model, path)
    return path, model


@pytest.fixture(scope="module")
def fairseq_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("fairseq_st")
    vocab_size = write_fairseq_st_vocabulary(root, TEXTS)
    model = random_st_model(vocab_size, seed=4, d=48)
    return write_fairseq_st_checkpoint(model, root / "checkpoint_best.pt"), model


def decode(corpus, model, out, cuts="pairs", *extra, option="--model"):
    root, _ = corpus
    argv = [option, str(model), "--lang-dir", str(root / "lang"), "--exp-dir", str(out)]
    argv += ["--cuts", str(root / f"{cuts}.jsonl.gz"), "--test-set", "t"]
    return decode_bin.main([*argv, *extra])


def hyps(out):
    return {r["id"]: r for r in read_hyps(out / "decode" / "greedy_search" / "hyps-t.jsonl")}


def our_greedy(model, vocab, cuts, lang):
    """cut id -> the text of greedy search (prefix ``</s> <tag>``) on ``model`` for the
    cut's audio alone, decoded by ``vocab``."""
    cfg, out = SearchConfig(beam=1, max_len_b=MAX_LEN, min_len=0), {}
    for cut in cuts:
        wav = torch.from_numpy(cut.load_audio()[0]).float()[None]
        with torch.no_grad():
            memory, lengths = model.encode_for_decoder(wav, torch.tensor([wav.shape[1]]))
            prefix = torch.tensor([[2, vocab.tag_id(lang)]])
            out[cut.id] = vocab.decode(greedy_search(model, memory, lengths, prefix, cfg)[0])
    return out


def transformers_greedy(path, cuts, code):
    """cut id -> transformers' ``generate`` (greedy, the tag forced, pad suppressed) on the
    cut's audio alone, decoded by ``MBart50Tokenizer`` without special tokens."""
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf = transformers.SpeechEncoderDecoderModel.from_pretrained(path).eval()
    tok = transformers.MBart50Tokenizer.from_pretrained(path)
    extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(path)
    out = {}
    for cut in cuts:
        audio = cut.load_audio()[0]
        values = extractor(audio, sampling_rate=16000, return_tensors="pt").input_values
        with torch.no_grad():
            seq = hf.generate(
                values,
                num_beams=1,
                do_sample=False,
                max_new_tokens=MAX_LEN + 2,
                forced_bos_token_id=tok.convert_tokens_to_ids(code),
                forced_eos_token_id=2,
                suppress_tokens=[1],
            )[0]
        out[cut.id] = tok.decode(seq, skip_special_tokens=True)
    return out


@pytest.mark.parametrize("option", ["--model", "--hf-model"])
def test_hf_st_dir_decodes_like_its_own_weights(corpus, hf_dir, tmp_path, option):
    # Invariant: without --task (the dir says st) every pair is decoded into its target
    # language (en) to the text of greedy search on the same weights, utterance alone,
    # decoded by the dir's MBart50Tokenizer; the lang dir needs no target tokenizer; the
    # score file names config.json, the weights and the tokenizer files.
    path, model = hf_dir
    _, sets = corpus
    out = tmp_path / "out"
    assert decode(corpus, path, out, "pairs", *SEARCH, option=option) == 0
    rows = hyps(out)
    vocab = xlsr.load_model(path).tokenizer
    expected = our_greedy(model, vocab, sets["pairs"], "en")
    assert {i: r["hyp"] for i, r in rows.items()} == expected
    assert {r["tgt_lang"] for r in rows.values()} == {"en"} and len(rows) == 4
    assert len({h for h in expected.values()}) > 1  # the audio matters
    score = json.loads((out / "decode" / "greedy_search" / "score-t.json").read_text())
    names = [p.split("/")[-1] for p in score["model"]["checkpoints"]]
    assert names == [
        "config.json",
        "model.safetensors",
        "sentencepiece.bpe.model",
        "tokenizer_config.json",
    ]
    assert score["model"]["weights"] == "hf_model"


@pytest.mark.parametrize(
    "cuts, extra, lang, code",
    [("pairs", [], "en", "en_XX"), ("plain", ["--task", "st", "--tgt-lang", "de"], "de", "de_DE")],
)
def test_hf_st_dir_decodes_like_transformers(corpus, hf_dir, tmp_path, cuts, extra, lang, code):
    # Invariant (modern lane): every utterance's hypothesis is transformers' generate on its
    # audio alone with the target language's code forced (pairs: their own, en; audio
    # without one: --tgt-lang de), decoded by MBart50Tokenizer without special tokens.
    pytest.importorskip("transformers", reason="transformers: modern lane only")
    path, _ = hf_dir
    _, sets = corpus
    out = tmp_path / "out"
    assert decode(corpus, path, out, cuts, *SEARCH, *extra) == 0
    rows = hyps(out)
    assert {r["tgt_lang"] for r in rows.values()} == {lang} and len(rows) == len(sets[cuts])
    theirs = transformers_greedy(path, sets[cuts], code)
    assert {i: r["hyp"] for i, r in rows.items()} == theirs


def test_fairseq_xm_transformer_decodes_like_its_own_weights(corpus, fairseq_file, tmp_path):
    # Invariant: an xm_transformer checkpoint with dict.txt (tags <lang:xx>) and spm.model
    # beside it decodes to greedy search on the model it was written from, decoded by its
    # dictionary (fairseq's detokenisation); the score file names the three files.
    path, model = fairseq_file
    _, sets = corpus
    out = tmp_path / "out"
    assert decode(corpus, path, out, "plain", *SEARCH, "--task", "st", "--tgt-lang", "fr") == 0
    loaded = xlsr.load_model(path)
    assert (loaded.task, loaded.kind) == ("st", "fairseq_st")
    assert loaded.tokenizer.languages == ["de", "en", "fr"]
    rows = hyps(out)
    expected = our_greedy(model, loaded.tokenizer, sets["plain"], "fr")
    assert {i: r["hyp"] for i, r in rows.items()} == expected and len(rows) == 6
    assert len(set(expected.values())) > 1
    score = json.loads((out / "decode" / "greedy_search" / "score-t.json").read_text())
    files = [path, path.parent / "dict.txt", path.parent / "spm.model"]
    assert score["model"]["checkpoints"] == [str(f) for f in files]
    assert score["model"]["weights"] == "fairseq_model"


def test_load_model_reads_st_models(hf_dir, fairseq_file, tmp_path):
    # Invariant: xlsr.load_model gives an external ST model as an StModel of task st with
    # its vocabulary (pieces by id; the tokenizer with mBART-50's 52 languages for HF);
    # task_of_path says st; a config.json naming only model_type speech-encoder-decoder is
    # one too.
    from xlsr.tasks.load import model_kind, task_of_path

    path, model = hf_dir
    loaded = xlsr.load_model(path)
    assert (loaded.task, loaded.kind, loaded.model.task_name) == ("st", "hf_st", "st")
    assert len(loaded.vocabulary) == model.cfg.vocab_size == loaded.tokenizer.vocab_size
    assert len(loaded.tokenizer.languages) == 52 and loaded.config["task"] == "st"
    assert loaded.model.target_vocabulary is loaded.tokenizer
    assert task_of_path(path) == "st" and task_of_path(fairseq_file[0]) == "st"
    other = tmp_path / "typed"
    write_hf_st_dir(model, other)
    cfg = json.loads((other / "config.json").read_text())
    del cfg["architectures"]
    (other / "config.json").write_text(json.dumps(cfg))
    assert model_kind(other) == "hf_st" and task_of_path(other) == "st"


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(SystemExit) as e:
        call(*args, **kwargs)
    return str(e.value)


def test_models_of_another_task_are_refused(corpus, hf_dir, fairseq_file, tmp_path):
    # Invariant: an ST model given to another task, and another task's model given to st,
    # are refused naming the file, its architecture and the --task that decodes it.
    encoder = random_encoder(tiny_config())
    ctc = write_fairseq_checkpoint(encoder, tmp_path / "ctc.pt", finetuned=True)
    hf_ctc = write_hf_dir(encoder, tmp_path / "hf_ctc", "Wav2Vec2ForCTC")
    hf_lid = write_hf_classifier_dir(encoder, tmp_path / "hf_lid", ["en", "de"])
    out = tmp_path / "out"
    cases = [
        (hf_dir[0], "asr_ctc", ["a Hugging Face SpeechEncoderDecoderModel directory", "--task st"]),
        (hf_dir[0], "lid", ["SpeechEncoderDecoderModel", "--task st"]),
        (fairseq_file[0], "asr_ctc", ["a fairseq xm_transformer checkpoint", "--task st"]),
        (fairseq_file[0], "sid", ["a fairseq xm_transformer checkpoint", "--task st"]),
        (ctc, "st", ["a fairseq wav2vec_ctc checkpoint", "--task asr_ctc"]),
        (hf_ctc, "st", ["Wav2Vec2ForCTC", "--task asr_ctc"]),
        (hf_lid, "st", ["Wav2Vec2ForSequenceClassification", "--task lid or --task sid"]),
    ]
    for path, task, parts in cases:
        message = refused(decode, corpus, path, out, "plain", "--task", task)
        assert str(path) in message, message
        for part in parts:
            assert part in message, (part, message)
    assert not list(out.rglob("hyps-*"))


def test_st_models_without_their_vocabulary_are_refused(corpus, tmp_path):
    # Invariant: a model whose vocabulary files are missing, or do not have its number of
    # ids, is refused before decoding, naming the files looked for and the fix.
    model = random_st_model(60, seed=1)
    hf = write_hf_st_dir(model, tmp_path / "hf")  # no tokenizer
    message = refused(decode, corpus, hf, tmp_path / "out", "plain", "--tgt-lang", "en")
    assert message.startswith(f"--hf-model {hf}: no mBART-50 tokenizer")
    assert "sentencepiece.bpe.model" in message and "save_pretrained" in message
    write_hf_mbart50_tokenizer(hf, TEXTS)  # 102 ids, the model has 60
    message = refused(decode, corpus, hf, tmp_path / "out", "plain", "--tgt-lang", "en")
    assert "its decoder has 60 ids" in message and "sentencepiece.bpe.model" in message
    path = write_fairseq_st_checkpoint(model, tmp_path / "fs" / "st.pt")
    message = refused(decode, corpus, path, tmp_path / "out", "plain", "--tgt-lang", "en")
    assert message.startswith(f"--model {path}: a fairseq ST checkpoint without its vocabulary")
    for name in ("dict.txt", "spm.model", "sentencepiece.bpe.model", str(corpus[0] / "lang")):
        assert name in message
    assert not list(tmp_path.rglob("hyps-*"))


def test_fairseq_vocabulary_from_a_data_config_or_the_lang_dir(tmp_path):
    # Invariant: a fairseq data config.yaml beside the checkpoint names the dictionary and
    # sentencepiece model (vocab_filename, bpe_tokenizer.sentencepiece_model); without
    # anything beside it, dict.txt and spm.model come from the lang dir.
    import yaml

    vocab_dir = tmp_path / "vocab"
    size = write_fairseq_st_vocabulary(vocab_dir, TEXTS)
    model = random_st_model(size, seed=2)
    data = tmp_path / "data"
    data.mkdir()
    (vocab_dir / "dict.txt").rename(data / "spm_st.txt")
    (vocab_dir / "spm.model").rename(data / "spm_st.model")
    cfg = {"vocab_filename": "spm_st.txt", "bpe_tokenizer": {"sentencepiece_model": "spm_st.model"}}
    (data / "config.yaml").write_text(yaml.safe_dump(cfg))
    path = write_fairseq_st_checkpoint(model, data / "st.pt")
    loaded = xlsr.load_model(path)
    assert loaded.files == [path, data / "spm_st.txt", data / "spm_st.model"]
    elsewhere = write_fairseq_st_checkpoint(model, tmp_path / "ckpt" / "st.pt")
    for name in ("spm_st.txt", "spm_st.model"):
        (data / name).rename(vocab_dir / ("dict.txt" if name.endswith("txt") else "spm.model"))
    loaded = xlsr.load_model(elsewhere, lang_dir=vocab_dir)
    assert loaded.files == [elsewhere, vocab_dir / "dict.txt", vocab_dir / "spm.model"]
    assert loaded.tokenizer.languages == ["de", "en", "fr"]
