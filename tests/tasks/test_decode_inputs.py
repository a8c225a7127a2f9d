"""xlsr.bin.decode on what users have: audio files and directories (any format soundfile reads,
any sample rate, stereo) and Kaldi data dirs, besides lhotse manifests. Every utterance is
accounted for; without references the transcripts are written and nothing is scored; with
them a Kaldi dir scores as its manifest does; ctc-greedy-search gives word times."""

import json

import numpy as np
import pytest
import soundfile as sf

from xlsr.bin import decode as decode_bin
from xlsr.decode.ctc import token_runs, word_spans
from xlsr.models.hf_ctc import CtcVocab
from xlsr.scoring.results import read_hyps
from xlsr.testing.decode import make_decode_exp, make_test_set
from xlsr.testing.lang import SENTENCES, make_tiny_lang_dir

GREEDY = "ctc-greedy-search"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    path = tmp_path_factory.mktemp("lang") / "lang_char"
    make_tiny_lang_dir(path, graphs=False)
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("data"), n=4, texts=SENTENCES[:4])


@pytest.fixture
def exp(tmp_path, lang):
    return make_decode_exp(tmp_path / "exp", lang)


def decode(exp, lang, *inputs, test_set=None, methods=GREEDY):
    argv = ["--model", str(exp), "--lang-dir", str(lang), "--methods", methods]
    argv += ["--cuts", *map(str, inputs)] + (["--test-set", test_set] if test_set else [])
    return decode_bin.main(argv)


def rows(exp, test_set, method=GREEDY):
    return {r["id"]: r for r in read_hyps(exp / "decode" / method / f"hyps-{test_set}.jsonl")}


def noise(seconds, rate, seed=0, channels=1):
    x = np.random.default_rng(seed).standard_normal(int(seconds * rate)).astype("float32") * 0.1
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def refused(capsys, call) -> str:
    with pytest.raises(SystemExit) as e:
        call()
    return f"{e.value.code if not isinstance(e.value.code, int) else ''} {capsys.readouterr().err}"


# ----------------------------------------------------------------------------- audio files


@pytest.fixture
def audio_dir(tmp_path):
    d = tmp_path / "inputs"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a.wav", noise(1.0, 16000), 16000)
    sf.write(d / "sub" / "b.flac", noise(1.2, 44100, seed=1, channels=2), 44100)
    sf.write(d / "c.ogg", noise(0.8, 8000, seed=2), 8000, format="OGG")
    sf.write(d / "D.WAV", noise(1.0, 22050, seed=3), 22050)
    (d / "broken.wav").write_bytes(b"RIFF not really audio")
    (d / "notes.txt").write_text("not audio, not searched for")
    return d


def test_a_directory_of_audio_files_gives_transcripts_and_no_score(tmp_path, exp, lang, audio_dir):
    assert decode(exp, lang, audio_dir) == 0
    out = exp / "decode" / GREEDY
    lines = (out / "transcripts-inputs.txt").read_text().splitlines()
    ids = [line.split("\t")[0] for line in lines]
    assert ids == ["D", "a", "broken", "c", "sub/b"]  # every file, sorted; notes.txt not searched
    got = rows(exp, "inputs")
    assert set(got) == set(ids) and all(r["ref"] == "" for r in got.values())
    assert got["broken"]["skipped"] == "unreadable_audio" and got["broken"]["hyp"] == ""
    assert "skipped" not in got["sub/b"] and got["sub/b"]["duration"] == pytest.approx(1.2)
    for line in lines:
        cut_id, text = line.split("\t")
        assert got[cut_id]["hyp"] == text
    assert not list(out.glob("score-*")) and not (exp / "decode" / "summary-inputs.txt").exists()


def test_stereo_is_the_mean_of_its_channels(tmp_path, exp, lang):
    # Invariant: a two-channel file whose channels are both x decodes as the mono file x
    x = noise(1.0, 16000, seed=5)
    sf.write(tmp_path / "mono.wav", x, 16000)
    sf.write(tmp_path / "stereo.flac", np.stack([x, x], axis=1), 16000)
    assert decode(exp, lang, tmp_path / "mono.wav", tmp_path / "stereo.flac", test_set="s") == 0
    got = rows(exp, "s")
    assert set(got) == {"mono", "stereo"} and got["mono"]["hyp"] == got["stereo"]["hyp"]


def test_files_named_on_the_command_line(tmp_path, exp, lang, audio_dir):
    assert decode(exp, lang, audio_dir / "sub" / "b.flac", audio_dir / "a.wav") == 0
    assert set(rows(exp, "b")) == {"sub/b", "a"}  # test set named after the first input


# -------------------------------------------------------------------------- Kaldi data dirs


def kaldi_dir(path, cuts, text=True):
    """A Kaldi data dir of ``cuts`` (wav.scp, utt2spk and, with ``text``, text)."""
    path.mkdir(parents=True)
    wav = "".join(f"{c.id} {c.recording.sources[0].source}\n" for c in cuts)
    (path / "wav.scp").write_text(wav)
    (path / "utt2spk").write_text("".join(f"{c.id} {c.id}\n" for c in cuts))
    if text:
        (path / "text").write_text("".join(f"{c.id} {c.supervisions[0].text}\n" for c in cuts))
    return path


def test_a_kaldi_dir_with_text_scores_as_its_manifest(tmp_path, exp, lang, manifest):
    from lhotse import load_manifest

    data = kaldi_dir(tmp_path / "kaldi", load_manifest(manifest))
    assert decode(exp, lang, manifest, test_set="m") == 0
    assert decode(exp, lang, data, test_set="k") == 0
    key = lambda r: (r["ref"], r["hyp"], r["duration"])  # noqa: E731 - Kaldi has no language
    assert {i: key(r) for i, r in rows(exp, "k").items()} == {
        i: key(r) for i, r in rows(exp, "m").items()
    }
    scores = [json.loads((exp / "decode" / GREEDY / f"score-{s}.json").read_text()) for s in "mk"]
    assert scores[0]["wer"] == scores[1]["wer"] and scores[1]["utts"] == 4


def test_a_kaldi_dir_without_text_and_with_segments(tmp_path, exp, lang, manifest):
    from lhotse import load_manifest

    cuts = load_manifest(manifest)
    data = kaldi_dir(tmp_path / "kaldi", cuts, text=False)
    first = cuts[0].id
    (data / "segments").write_text(f"seg-a {first} 0.0 0.5\nseg-b {first} 0.5 -1\n")
    assert decode(exp, lang, data, test_set="k") == 0
    got = rows(exp, "k")
    assert set(got) == {"seg-a", "seg-b"} and all(r["ref"] == "" for r in got.values())
    assert [got[s]["duration"] for s in ("seg-a", "seg-b")] == pytest.approx([0.5, 0.5])
    assert (exp / "decode" / GREEDY / "transcripts-k.txt").exists()


def test_unreadable_audio_in_a_kaldi_dir_is_scored_as_deleted(tmp_path, exp, lang, manifest):
    from lhotse import load_manifest

    cuts = load_manifest(manifest)
    data = kaldi_dir(tmp_path / "kaldi", cuts)
    lines = (data / "wav.scp").read_text().splitlines()
    lines[1] = f"{cuts[1].id} {tmp_path / 'gone.wav'}"
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    assert decode(exp, lang, data, test_set="k") == 0
    got = rows(exp, "k")
    assert got[cuts[1].id]["skipped"] == "unreadable_audio"
    assert got[cuts[1].id]["ref"] == SENTENCES[1]  # its reference is kept: all words deleted
    score = json.loads((exp / "decode" / GREEDY / "score-k.json").read_text())
    assert score["utts"] == 4 and score["skipped"]["count"] == 1


@pytest.mark.parametrize(
    "make, words",
    [
        ("pipe", ["--cuts", "a command", "write its output to files"]),
        ("text_missing", ["--cuts", "no transcript for 1 of 4 utterances"]),
        ("no_audio", ["--cuts", "no audio files under it"]),
        ("mixed", ["--cuts", "decoded on its own"]),
        ("missing", ["--cuts", "no such file or directory"]),
    ],
)
def test_inputs_that_cannot_be_decoded_are_named(
    capsys, tmp_path, exp, lang, manifest, make, words
):
    from lhotse import load_manifest

    data = kaldi_dir(tmp_path / "kaldi", load_manifest(manifest))
    if make == "pipe":
        (data / "wav.scp").write_text("utt-0000 sox x.wav -t wav - |\n")
        inputs = [data]
    elif make == "text_missing":
        text = (data / "text").read_text().splitlines()
        (data / "text").write_text("\n".join(text[1:]) + "\n")
        inputs = [data]
    elif make == "no_audio":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "readme.txt").write_text("x")
        inputs = [tmp_path / "empty"]
    elif make == "mixed":
        inputs = [manifest, manifest.parent / "audio"]
    else:
        inputs = [tmp_path / "nope.wav"]
    message = refused(capsys, lambda: decode(exp, lang, *inputs))
    assert all(w in message for w in words), message
    assert not (exp / "decode" / GREEDY).exists()


# ------------------------------------------------------------------------------ word times


def test_word_times_from_the_greedy_path():
    # frames: 0 blank, 1-2 A, 3 blank, 4 B, 5-6 |, 7 C, 8 blank (20 ms each)
    vocab = CtcVocab(["<pad>", "<s>", "</s>", "<unk>", "|", "A", "B", "C"])
    tokens, spans = token_runs([0, 5, 5, 0, 6, 4, 4, 7, 0])
    assert tokens == [5, 6, 4, 7] and spans == [(1, 2), (4, 4), (5, 6), (7, 7)]
    words = word_spans(tokens, spans, vocab.decode, 0.02)
    assert words == [
        {"word": "AB", "start": 0.02, "end": 0.1},
        {"word": "C", "start": 0.14, "end": 0.16},
    ]
    assert word_spans([], [], vocab.decode, 0.02) == []


def test_word_times_in_the_hyps_file(tmp_path, exp, lang, manifest):
    # Invariant: the words of a row are its hypothesis', each within the audio, in order
    assert decode(exp, lang, manifest, test_set="m") == 0
    got = rows(exp, "m")
    assert any(r["hyp"] for r in got.values())
    for r in got.values():
        words = r.get("words", [])
        assert [w["word"] for w in words] == r["hyp"].split()
        ends = [0.0] + [w["end"] for w in words]
        for w, end_before in zip(words, ends):
            assert end_before <= w["start"] < w["end"] <= r["duration"] + 0.02


def test_sentencepiece_word_boundaries(lang):
    from xlsr.data.tokenizer import Tokenizer

    tok = Tokenizer(lang / "tokenizer")
    ids = tok.encode("one two three")
    spans = [(2 * k, 2 * k) for k in range(len(ids))]
    words = word_spans(ids, spans, tok.decode, 0.02)
    assert [w["word"] for w in words] == ["one", "two", "three"]
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:]))


# ------------------------------------------------------------------- models users have


def test_a_fairseq_ctc_checkpoint_decodes_with_its_dictionary(tmp_path, manifest):
    # --model FILE.pt of fairseq: the task (asr_ctc) and the vocabulary come from it and from
    # dict.ltr.txt beside it; hypotheses are normalised like the references (lower case)
    from xlsr.models.hf_ctc import prepare_hf_lang_dir
    from xlsr.testing.checkpoints import random_encoder, tiny_config, write_fairseq_checkpoint

    letters = ["|", "E", "T", "O", "N", "W", "H", "R"]
    path = write_fairseq_checkpoint(
        random_encoder(tiny_config()), tmp_path / "ft.pt", finetuned=True
    )
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{c} {9 - i}\n" for i, c in enumerate(letters)))
    vocab = CtcVocab(["<s>", "<pad>", "</s>", "<unk>", *letters])
    prepare_hf_lang_dir(tmp_path / "lang", vocab, ["one", "two", "three"])
    argv = ["--model", str(path), "--lang-dir", str(tmp_path / "lang"), "--cuts", str(manifest)]
    assert decode_bin.main([*argv, "--test-set", "f", "--methods", GREEDY]) == 0
    got = rows(tmp_path, "f")
    assert len(got) == 4 and all(r["hyp"] == r["hyp"].lower() for r in got.values())
    assert any(r["hyp"] for r in got.values())
    score = json.loads((tmp_path / "decode" / GREEDY / "score-f.json").read_text())
    assert score["model"]["weights"] == "fairseq_model"
    assert score["model"]["checkpoints"] == [str(path), str(tmp_path / "dict.ltr.txt")]
