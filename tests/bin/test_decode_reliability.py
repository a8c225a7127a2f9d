"""Decoding never gives a silent wrong result (issue 9): every utterance of the test set is
accounted for, references are normalised as training text is, every option and the model file
are checked before any work with a message naming them, the lang dir must match the model, and
the result files say which checkpoint was decoded."""

import json
from pathlib import Path

import pytest
import torch

from xlsr.bin import decode as decode_bin
from xlsr.scoring.results import read_hyps, recount
from xlsr.tasks import decode_model, decoding
from xlsr.testing.checkpoints import random_encoder, tiny_config, write_fairseq_checkpoint
from xlsr.testing.decode import make_decode_exp, make_test_set
from xlsr.testing.lang import make_tiny_lang_dir
from xlsr.utils.fingerprint import short_hash

ROOT = Path(__file__).resolve().parents[2]
GREEDY = "ctc-greedy-search"
# make_tiny_cutset's transcripts of utt-0000..0004: "one two", "drei", "quatre cinq six",
# "seven", "eins zwei"; utt-0001, -0002 and -0004 (6 words) lose their audio
MISSING = (1, 2, 4)
WORDS, SKIPPED_WORDS = 9, 6


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    path = tmp_path_factory.mktemp("lang") / "lang_char"
    make_tiny_lang_dir(path, graphs=False)
    return path


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("data"), n=5, missing=MISSING)


@pytest.fixture
def exp(tmp_path, lang):
    return make_decode_exp(tmp_path / "exp", lang)


def ctc(exp, lang, cuts, *extra, methods=GREEDY):
    argv = [
        "--exp-dir",
        str(exp),
        "--lang-dir",
        str(lang),
        "--cuts",
        str(cuts),
        "--test-set",
        "t",
        "--methods",
        methods,
        *extra,
    ]
    return decode_bin.main(["--task", "asr_ctc", *argv])


def results(exp, method=GREEDY):
    d = Path(exp) / "decode" / method
    return json.loads((d / "score-t.json").read_text()), read_hyps(d / "hyps-t.jsonl"), d


# ------------------------------------------------------------------ every utterance counted


def test_skipped_utterances_count_as_deleted_words(exp, lang, cuts):
    # Invariant (contract 6): 3 of 5 cuts unreadable -> 5 rows, 3 marked skipped with hyp "",
    # utts 5, and their 6 reference words are deletions in the WER (the default rule).
    assert ctc(exp, lang, cuts) == 0
    score, rows, d = results(exp)
    assert len(rows) == 5
    skipped = {r["id"]: r for r in rows if "skipped" in r}
    assert sorted(skipped) == [f"utt-{i:04d}" for i in MISSING]
    assert all(r["skipped"] == "unreadable_audio" and r["hyp"] == "" for r in skipped.values())
    assert score["utts"] == 5 and score["num_utterances"] == 5
    assert score["skipped"]["count"] == 3
    assert score["skipped"]["reasons"] == {"unreadable_audio": 3}
    assert score["skipped_rule"] == "deleted"
    assert score["words"] == WORDS and score["del"] >= SKIPPED_WORDS
    assert recount(d / "hyps-t.jsonl")["wer"] == pytest.approx(score["wer"])
    assert "%SKIPPED 3 of 5 utterances" in (d / "errs-t.txt").read_text()
    summary = (Path(exp) / "decode" / "summary-t.txt").read_text().splitlines()
    assert "3 of 5 utterances skipped" in summary[0] and summary[2].startswith(GREEDY)
    log = (Path(exp) / "decode" / "log" / "decode-t.log").read_text()
    assert "3 of 5 utterances skipped (unreadable_audio=3)" in log


def test_skipped_utterances_excluded_on_request(exp, lang, cuts):
    # Invariant: --skipped-utts excluded scores the 2 readable utterances only, and says so;
    # the skipped ones keep their rows. The same hyps: errors differ by the 6 deleted words.
    ctc(exp, lang, cuts)
    deleted, _, _ = results(exp)
    ctc(exp, lang, cuts, "--skipped-utts", "excluded")
    score, rows, d = results(exp)
    assert len(rows) == 5 and sum("skipped" in r for r in rows) == 3
    assert (score["utts"], score["num_utterances"], score["skipped"]["count"]) == (5, 2, 3)
    assert score["skipped_rule"] == "excluded" and score["words"] == WORDS - SKIPPED_WORDS
    assert score["errors"] == deleted["errors"] - SKIPPED_WORDS
    assert recount(d / "hyps-t.jsonl", skipped_rule="excluded") == {
        k: v for k, v in score.items() if k != "model"
    }


def test_transducer_accounts_for_skipped_utterances(tmp_path, lang, cuts):
    exp = make_decode_exp(tmp_path / "exp", lang, head="transducer")
    argv = [
        "--exp-dir",
        str(exp),
        "--lang-dir",
        str(lang),
        "--cuts",
        str(cuts),
        "--test-set",
        "t",
        "--methods",
        "greedy_search",
    ]
    assert decode_bin.main(["--task", "asr_transducer", *argv]) == 0
    score, rows, _ = results(exp, "greedy_search")
    assert (score["utts"], score["skipped"]["count"], len(rows)) == (5, 3, 5)
    assert score["words"] == WORDS
    assert score["model"]["checkpoints"] == [str(exp / "checkpoint-1.pt")]


def test_every_utterance_skipped_is_an_error(tmp_path, exp, lang):
    cuts = make_test_set(tmp_path / "data", n=2, missing=(0, 1))
    with pytest.raises(SystemExit, match=r"all 2 utterances were skipped \(unreadable_audio=2"):
        ctc(exp, lang, cuts)


@pytest.mark.skipif(
    "too_short_audio" not in (ROOT / "xlsr" / "data" / "dataset.py").read_text(),
    reason="needs the data loader's too_short_audio skip",
)
def test_audio_shorter_than_the_receptive_field_is_skipped_by_id(tmp_path, exp, lang):
    cuts = make_test_set(tmp_path / "data", n=3, durations=[1.0, 0.01, 1.0])
    assert ctc(exp, lang, cuts) == 0
    score, rows, _ = results(exp)
    assert score["skipped"]["reasons"] == {"too_short_audio": 1}
    assert [r["id"] for r in rows if r.get("skipped") == "too_short_audio"] == ["utt-0001"]


def test_refs_go_through_the_lang_dirs_text_normaliser(tmp_path, exp, lang):
    # Invariant: references are spelt as the training targets were (TextNormalizer of the
    # lang dir: case folded, hyphens and punctuation removed).
    cuts = make_test_set(tmp_path / "data", n=2, texts=["One-Two, THREE!", "Seven."])
    ctc(exp, lang, cuts)
    _, rows, _ = results(exp)
    assert [r["ref"] for r in rows] == ["one two three", "seven"]


def test_one_best_accounts_for_skipped_utterances(tmp_path, cuts):
    pytest.importorskip("k2", reason="k2: HLG decoding needs the k2 lane")
    lang = tmp_path / "lang"
    make_tiny_lang_dir(lang, graphs=True)
    exp = make_decode_exp(tmp_path / "exp", lang)
    assert ctc(exp, lang, cuts, "--search-beam", "8", "--output-beam", "3", methods="1best") == 0
    score, rows, _ = results(exp, "1best")
    assert (score["utts"], score["num_utterances"], score["skipped"]["count"]) == (5, 5, 3)
    assert score["words"] == WORDS and score["del"] >= SKIPPED_WORDS and len(rows) == 5


# ------------------------------------------------------------------------ options up front


@pytest.fixture
def no_work(monkeypatch):
    """Any model loading or decoding fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("model loading / decoding started before the options were checked")

    monkeypatch.setattr(decode_model, "model_weights", forbidden)
    monkeypatch.setattr(decode_model, "load_task_model", forbidden)
    monkeypatch.setattr(decoding, "run_model", forbidden)


def refused(capsys, call) -> str:
    """The message of the SystemExit that ``call()`` raises (argparse prints its own)."""
    with pytest.raises(SystemExit) as e:
        call()
    return f"{e.value.code if not isinstance(e.value.code, int) else ''} {capsys.readouterr().err}"


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--lm-scales", "abc"], ["--lm-scales", "'abc' is not a number"]),
        (["--lm-scales", "0.1,,0.3"], ["--lm-scales", "empty entry"]),
        (["--lm-scales", "nan"], ["--lm-scales", "finite"]),
        (["--lm-scales", "inf"], ["--lm-scales", "finite"]),
        (["--lm-scales=-0.5"], ["--lm-scales", ">= 0"]),
        (["--methods", ""], ["--methods", "names no decoding method"]),
        (["--methods", "greedy,1best"], ["--methods", "unknown", "greedy"]),
        (["--avg", "0"], ["--avg", "an integer >= 1"]),
        (["--lm-scales", "0.1,x"], ["--lm-scales", "'x' is not a number (in '0.1,x')"]),
        (["--avg", "2"], ["--avg", "--epoch N or --iter N"]),
        (["--epoch", "2", "--iter", "3"], ["--epoch and --iter"]),
        (["--max-duration", "0"], ["--max-duration"]),
        (["--num-paths", "0"], ["--num-paths"]),
        (["--skipped-utts", "ignored"], ["--skipped-utts"]),
        (["--checkpoint", "no-such.pt"], ["--checkpoint", "no-such.pt"]),
        (["--methods", "1best"], ["--lang-dir", "HLG.pt", "1best"]),
        (["--methods", "ctc-greedy-search,nbest-rescoring"], ["HLG.pt", "nbest-rescoring"]),
    ],
)
def test_ctc_decoding_options_refused_before_any_work(
    capsys, no_work, exp, lang, cuts, extra, words
):
    argv = [
        "--exp-dir",
        str(exp),
        "--lang-dir",
        str(lang),
        "--cuts",
        str(cuts),
        "--methods",
        GREEDY,
        *extra,
    ]
    message = refused(capsys, lambda: decode_bin.main(["--task", "asr_ctc", *argv]))
    assert all(w in message for w in words), message
    assert not (exp / "decode").exists()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--ngram-lm-scales", "abc"], ["--ngram-lm-scales", "not a number"]),
        (["--ngram-lm-scales", "0.1,nan"], ["--ngram-lm-scales", "finite"]),
        (["--beam-size", "0"], ["--beam-size"]),
        (["--methods", "fast_beam_search_nbest_LG"], ["LG.pt", "fast_beam_search_nbest_LG"]),
        (["--methods", "beam"], ["--methods", "unknown"]),
    ],
)
def test_transducer_decoding_options_refused(capsys, no_work, exp, lang, cuts, extra, words):
    argv = [
        "--exp-dir",
        str(exp),
        "--lang-dir",
        str(lang),
        "--cuts",
        str(cuts),
        "--methods",
        "greedy_search",
        *extra,
    ]
    message = refused(capsys, lambda: decode_bin.main(["--task", "asr_transducer", *argv]))
    assert all(w in message for w in words), message


def test_missing_or_broken_cuts_file_named(capsys, no_work, tmp_path, exp, lang):
    # the recipe's --test-sets foo: a cuts file the data stages never made
    missing = tmp_path / "numbers_cuts_foo.jsonl.gz"
    message = refused(capsys, lambda: ctc(exp, lang, missing))
    assert "--cuts" in message and str(missing) in message and "no such file" in message
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    message = refused(capsys, lambda: ctc(exp, lang, broken))
    assert "--cuts" in message and "not a readable lhotse cut manifest" in message


# ------------------------------------------------------------------------------ model files


def _edited(exp, path, edit):
    """A copy of exp's checkpoint-1.pt at ``path``, changed by ``edit(state)``."""
    state = torch.load(exp / "checkpoint-1.pt")
    edit(state)
    torch.save(state, path)
    return path


def _drop_a_key(state):
    del state["model"]["output.bias"]


def _more_outputs(state):
    for key in ("output.weight", "output.bias"):
        state["model"][key] = torch.cat([state["model"][key], state["model"][key][:3]])


def model_files(tmp_path, exp, lang):
    """name -> (path, words the message must hold)."""
    enc = random_encoder(tiny_config())
    transducer = make_decode_exp(tmp_path / "tr", lang, head="transducer") / "checkpoint-1.pt"
    (tmp_path / "trunc.pt").write_bytes((exp / "checkpoint-1.pt").read_bytes()[:5000])
    torch.save(enc.state_dict(), tmp_path / "bare.pt")
    from xlsr.models.fairseq_hf import save_encoder

    save_encoder(enc, tmp_path / "enc.pt")
    need = "needs a checkpoint of xlsr.bin.train --task asr_ctc"
    fs_pre = write_fairseq_checkpoint(enc, tmp_path / "fs.pt")
    fs_legacy = write_fairseq_checkpoint(enc, tmp_path / "fs_args.pt", style="args")
    fs_ctc = write_fairseq_checkpoint(enc, tmp_path / "fs_ctc.pt", finetuned=True)
    return {
        "fairseq_pretraining": (fs_pre, ["a fairseq", "pretraining", need, "--xlsr-checkpoint"]),
        "fairseq_legacy": (fs_legacy, ["a fairseq", need]),
        "fairseq_ctc": (fs_ctc, ["a fairseq fine-tuned CTC checkpoint", "--hf-model", need]),
        "encoder_only": (tmp_path / "enc.pt", ["an encoder-only checkpoint", need]),
        "bare_state_dict": (tmp_path / "bare.pt", ["a bare state dict", need]),
        "transducer": (
            transducer,
            ["a model of the task asr_transducer, not asr_ctc", "--task asr_transducer"],
        ),
        "missing_key": (
            _edited(exp, tmp_path / "missing.pt", _drop_a_key),
            ["do not fit", "1 missing", "output.bias"],
        ),
        "vocabulary": (
            _edited(exp, tmp_path / "vocab.pt", _more_outputs),
            ["do not fit", "output.weight", "another shape"],
        ),
        "truncated": (tmp_path / "trunc.pt", ["cannot read checkpoint"]),
    }


KINDS = [
    "fairseq_pretraining",
    "fairseq_legacy",
    "fairseq_ctc",
    "encoder_only",
    "bare_state_dict",
    "transducer",
    "missing_key",
    "vocabulary",
    "truncated",
]


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_model_file_is_one_clear_message(capsys, tmp_path, exp, lang, cuts, kind):
    path, words = model_files(tmp_path, exp, lang)[kind]
    message = refused(capsys, lambda: ctc(exp, lang, cuts, "--checkpoint", str(path)))
    assert str(path) in message and all(w in message for w in words), message
    assert "Traceback" not in message and not (exp / "decode" / GREEDY).exists()


def test_a_directory_as_checkpoint_is_refused(capsys, tmp_path, exp, lang, cuts):
    message = refused(capsys, lambda: ctc(exp, lang, cuts, "--checkpoint", str(tmp_path)))
    assert "--checkpoint" in message and str(tmp_path) in message


# --------------------------------------------------------------------- lang dir vs model


def test_lang_dir_of_another_size_refused_before_decoding(capsys, tmp_path, exp, lang, cuts):
    # Invariant: a model for one lang dir decoded with another is refused before any decoding,
    # naming the checkpoint and the token table and both sizes (it used to give 260 % WER).
    other = tmp_path / "lang_other"
    make_tiny_lang_dir(other, ["alpha beta gamma", "delta epsilon", "zeta"], graphs=False)
    table = other / "tokenizer" / "tokens.txt"
    n_other = len(table.read_text().splitlines())
    n_model = torch.load(exp / "checkpoint-1.pt")["config"]["ctc"]["vocab_size"]
    assert n_other != n_model
    message = refused(capsys, lambda: ctc(exp, other, cuts))
    for word in (str(exp / "checkpoint-1.pt"), str(table), f"{n_other} tokens", f"has {n_model}"):
        assert word in message, message
    assert not (exp / "decode" / GREEDY).exists()
    trans = make_decode_exp(tmp_path / "tr", lang, head="transducer")
    argv = ["--exp-dir", str(trans), "--lang-dir", str(other), "--cuts", str(cuts)]
    assert str(table) in refused(
        capsys, lambda: decode_bin.main(["--task", "asr_transducer", *argv])
    )


def test_token_table_of_another_hash_refused(capsys, tmp_path, lang, cuts):
    # same size, other tokens: the tokens_hash the training run recorded tells them apart
    exp = make_decode_exp(tmp_path / "exp", lang, tokens_hash="0123456789ab")
    message = refused(capsys, lambda: ctc(exp, lang, cuts))
    table = lang / "tokenizer" / "tokens.txt"
    assert "tokens_hash 0123456789ab" in message and f"hash {short_hash(table)}" in message
    assert str(table) in message and str(exp / "checkpoint-1.pt") in message


# ------------------------------------------------------------------------ which checkpoint


def test_truncated_newest_checkpoint_named_and_result_records_the_used_one(tmp_path, lang, cuts):
    exp = make_decode_exp(tmp_path / "exp", lang, updates=(1, 2))
    newest = exp / "checkpoint-2.pt"
    newest.write_bytes(newest.read_bytes()[:5000])
    assert ctc(exp, lang, cuts) == 0
    log = (exp / "decode" / "log" / "decode-t.log").read_text()
    used = exp / "checkpoint-1.pt"
    assert f"{newest}: unreadable" in log
    assert f"decoding {used} (update 1), the newest readable checkpoint" in log
    score, _, _ = results(exp)
    expected = {"checkpoints": [str(used)], "hashes": [short_hash(used)]}
    assert score["model"] == {**expected, "hash": short_hash(used), "weights": "checkpoint"}


def test_averaged_checkpoints_recorded(tmp_path, lang, cuts):
    exp = make_decode_exp(tmp_path / "exp", lang, updates=(1, 2, 3))
    assert ctc(exp, lang, cuts, "--iter", "3", "--avg", "2") == 0
    model = results(exp)[0]["model"]
    paths = [exp / "checkpoint-2.pt", exp / "checkpoint-3.pt"]
    assert model["checkpoints"] == list(map(str, paths))
    assert model["weights"] == "checkpoint_average"
    assert model["hashes"] == [short_hash(p) for p in paths] and len(model["hash"]) == 12
