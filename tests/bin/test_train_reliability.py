"""xlsr.bin.train --task asr_ctc refuses what it cannot do correctly, before it writes anything, and
trains the lang dir's normalised text without letting special symbols into the targets."""

import logging

import pytest
from lhotse import CutSet, load_manifest_lazy
from lhotse.utils import fastcopy

from xlsr.bin import train as train_bin
from xlsr.data.targets import CutTargets, scan_unknown_symbols
from xlsr.data.text_norm import TextNormalizer
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import TINY_TRAIN_OPTIONS, tiny_train_args
from xlsr.train import checkpoint as ckpt

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")


def lang_dir(path, cuts, model_type="char"):
    texts = {}
    for c in cuts:
        texts.setdefault(c.supervisions[0].language, []).append(c.supervisions[0].text)
    train_tokenizer(texts, path / "tokenizer", TokenizerConfig(model_type=model_type))
    TextNormalizer().save(path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    cuts = make_tiny_cutset(root / "audio", n=6, durations=[1.0] * 6)
    cuts.to_file(root / "cuts.jsonl.gz")
    return root, cuts, lang_dir(root / "lang", cuts)


def train(root, lang, exp, *extra):
    args = tiny_train_args(lang, root / "cuts.jsonl.gz", exp)
    return train_bin.main(
        ["--task", "asr_ctc", *args, "--max-update", "2", "--ctc-loss", "torch", *extra]
    )


def test_other_architecture_in_existing_exp_dir_refused_before_writing(data, tmp_path):
    # Invariant: a changed --encoder-preset (or another token table) for an exp dir with
    # checkpoints is refused naming the option, both values and the exp dir; config.yaml is
    # left as it was (today: 71 size-mismatch lines after config.yaml was overwritten).
    root, cuts, lang = data
    exp = tmp_path / "exp"
    assert train(root, lang, exp) == 0
    before = (exp / "config.yaml").read_text()
    with pytest.raises(SystemExit) as err:
        train(root, lang, exp, "--encoder-preset", "xlsr_mini")
    msg = str(err.value)
    assert str(exp) in msg and "--encoder-preset" in msg and "was " in msg and "now " in msg
    other = lang_dir(tmp_path / "lang_bpe", cuts, model_type="unigram")
    with pytest.raises(SystemExit, match="tokens.txt"):
        train(root, other, exp)
    assert (exp / "config.yaml").read_text() == before
    assert train(root, lang, exp, "--max-update", "3") == 0  # the same model resumes


def test_unreadable_only_checkpoint_says_starting_from_scratch(data, tmp_path):
    # Invariant: when the only checkpoint is truncated, training says it starts from scratch.
    root, _, lang = data
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "checkpoint-5.pt").write_bytes(b"truncated")
    assert train(root, lang, exp) == 0
    log = next((exp / "log").glob("train-*.log")).read_text()
    assert "checkpoint-5.pt: unreadable" in log and "renamed" in log
    assert "no readable checkpoint" in log and "starting from scratch" in log
    # the broken file is set aside, so keep_last_n cannot keep it instead of the new one
    assert (exp / "checkpoint-5.pt.unreadable").exists()
    assert ckpt.load_checkpoint(exp / "checkpoint-2.pt")["trainer"]["update"] == 2


def with_text(cut, text):
    return fastcopy(cut, supervisions=[fastcopy(s, text=text) for s in cut.supervisions])


def test_targets_normalise_and_never_encode_specials(data):
    # Invariant: upper case and punctuation are normalised as the lang dir says; a literal
    # "<blk>" or "<sos/eos>" is unknown (never ids 0 / 1); CJK and emoji are unknown.
    _, cuts, lang = data
    targets = CutTargets.from_lang_dir(lang)
    cut = next(iter(cuts))
    text = cut.supervisions[0].text
    ids, unknown = targets.checked(with_text(cut, text.upper() + "!"))
    assert ids == targets(cut) and unknown == []
    ids, unknown = targets.checked(with_text(cut, f"{text} <blk> <sos/eos> 数 🙂"))
    assert 0 not in ids and 1 not in ids
    assert {"<blk>", "数", "🙂"} <= set(unknown)
    ids, unknown = targets.tokenizer.encode_checked("<sos/eos><blk>")  # not normalised
    assert 0 not in ids and 1 not in ids and unknown == ["<sos/eos>", "<blk>"]


def test_unknown_symbols_counted_and_dropped_on_request(data, caplog):
    # Invariant: utterances with unknown symbols are reported with examples and counts;
    # unknown_symbols=drop removes them, keep keeps them.
    _, cuts, lang = data
    targets = CutTargets.from_lang_dir(lang)
    first, *rest = list(cuts)
    mixed = CutSet.from_cuts([with_text(first, "数字 one"), *rest])
    with caplog.at_level(logging.WARNING):
        kept, symbols = scan_unknown_symbols(mixed, targets, "keep", "train.jsonl")
    assert len(kept) == len(cuts) and symbols["数字"] + symbols["数"] + symbols["字"] >= 1
    assert "train.jsonl: 1 utterance(s)" in caplog.text and first.id in caplog.text
    kept, _ = scan_unknown_symbols(mixed, targets, "drop")
    assert first.id not in set(kept.ids) and len(kept) == len(cuts) - 1
    # a lazy manifest (a corpus too large for memory) stays lazy, with the same cuts
    path = data[0] / "mixed.jsonl.gz"
    mixed.to_file(path)
    for policy in ("keep", "drop"):
        lazy, lazy_symbols = scan_unknown_symbols(load_manifest_lazy(path), targets, policy)
        eager, eager_symbols = scan_unknown_symbols(mixed, targets, policy)
        assert lazy.is_lazy and list(lazy.ids) == list(eager.ids)
        assert lazy_symbols == eager_symbols


KILLER = """
import os, signal, sys
from xlsr.train.trainer import Trainer
after = Trainer._after_update
def after_then_die(self, *args):
    after(self, *args)
    if self.update == 6:  # after checkpoint-4: no clean-up, no final save
        os.kill(os.getpid(), signal.SIGKILL)
Trainer._after_update = after_then_die
from xlsr.bin import train
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_kill_9_then_the_same_command_equals_an_uninterrupted_run(data, tmp_path, workers):
    # Invariant (issue 9, case 4): SIGKILL in update 7 (checkpoint-4 on disk), then the same
    # command in a new process: every final parameter and the running average equal those
    # of a run that was never interrupted (max abs diff 0), with dropout, time masking,
    # validation between checkpoints and loader workers.
    import subprocess
    import sys

    import torch

    root, _, lang = data
    cuts = root / "cuts.jsonl.gz"
    args = ["--task", "asr_ctc", "--lang-dir", str(lang), "--train-cuts", str(cuts)]
    args += ["--valid-cuts", str(cuts), *TINY_TRAIN_OPTIONS, "--max-update", "10"]
    args += ["--ctc-loss", "torch", "--save-every-n", "4", "--valid-interval", "3"]
    args += ["--keep-last-n", "0", "--average-period", "1", "--data-num-workers", workers]
    # dropout and time masking: the RNG streams must continue exactly after the kill
    args += ["--enc-mask-prob", "0.3", "--enc-mask-length", "2", "--enc-dropout", "0.1"]

    def run(exp, script=None):
        cmd = (
            [sys.executable, "-c", script, *args]
            if script
            else [sys.executable, "-m", "xlsr.bin.train", *args]
        )
        return subprocess.run(
            [*cmd, "--exp-dir", str(exp)], capture_output=True, text=True, timeout=300
        )

    ref = run(tmp_path / "a")
    assert ref.returncode == 0, ref.stderr[-2000:]
    killed = run(tmp_path / "b", KILLER)
    assert killed.returncode == -9 and "training done" not in killed.stderr
    assert sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*.pt")) == ["checkpoint-4.pt"]
    resumed = run(tmp_path / "b")
    assert resumed.returncode == 0 and "resumed from" in resumed.stderr, resumed.stderr[-2000:]
    a, b = (ckpt.load_checkpoint(tmp_path / d / "checkpoint-10.pt") for d in "ab")
    for key in ("model", "averaged"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (
                f"{key} {name}: {(value - b[key][name]).abs().max()}"
            )


def test_missing_manifest_or_lang_dir_named_up_front(data, tmp_path, capsys):
    # Invariant: a missing --train-cuts or a lang dir without a tokenizer stops training
    # with a message naming the option and the path (no traceback from gzip or sentencepiece).
    root, _, lang = data
    with pytest.raises(SystemExit):
        train_bin.main(
            [
                "--task",
                "asr_ctc",
                "--lang-dir",
                str(lang),
                "--train-cuts",
                str(tmp_path / "gone.jsonl.gz"),
                "--exp-dir",
                str(tmp_path / "exp"),
            ]
        )
    err = capsys.readouterr().err
    assert "argument --train-cuts" in err and "gone.jsonl.gz: no such file" in err
    with pytest.raises(SystemExit, match="--lang-dir .*tokenizer.json: not a tokenizer directory"):
        train(root, tmp_path, tmp_path / "exp")
    assert not (tmp_path / "exp" / "config.yaml").exists()
