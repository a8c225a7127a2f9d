"""python -m xlsr.bin.export: a self-contained model dir (config, weights only, the lang dir
files decoding reads, a README) that decodes to the same hypotheses as its exp dir, without
--lang-dir, and that xlsr.load_model reads as the same model."""

import json

import pytest
import torch

import xlsr
from xlsr.bin import decode as decode_bin
from xlsr.bin import export as export_bin
from xlsr.models.safe_pickle import torch_load
from xlsr.testing.decode import make_decode_exp, make_test_set, tiny_head_model
from xlsr.testing.lang import SENTENCES, make_tiny_lang_dir
from xlsr.train import checkpoint as ckpt
from xlsr.utils.config import load_yaml

try:
    import k2  # noqa: F401

    METHODS = "ctc-greedy-search,1best"
except ImportError:  # the modern lane: no graphs
    METHODS = "ctc-greedy-search"


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    path = tmp_path_factory.mktemp("lang") / "lang_char"
    make_tiny_lang_dir(path, graphs=METHODS != "ctc-greedy-search")
    return path


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_test_set(tmp_path_factory.mktemp("data"), n=4, texts=SENTENCES[:4])


@pytest.fixture
def exp(tmp_path, lang):
    return make_decode_exp(tmp_path / "exp", lang, updates=(1, 2))


def export(exp, out, *extra):
    return export_bin.main(["--exp-dir", str(exp), "--out", str(out), *extra])


def hyps(exp_dir, method, test_set="t"):
    return (exp_dir / "decode" / method / f"hyps-{test_set}.jsonl").read_text()


def refused(capsys, call) -> str:
    with pytest.raises(SystemExit) as e:
        call()
    return f"{e.value.code if not isinstance(e.value.code, int) else ''} {capsys.readouterr().err}"


def test_an_exported_dir_decodes_as_its_exp_dir(tmp_path, exp, lang, cuts):
    # Invariant: decoding the export (no --lang-dir) gives the exp dir's hyps files, byte for byte
    common = ["--cuts", str(cuts), "--test-set", "t", "--methods", METHODS]
    argv = ["--task", "asr_ctc", "--exp-dir", str(exp), "--lang-dir", str(lang), *common]
    assert decode_bin.main(argv) == 0
    out = tmp_path / "model"
    assert export(exp, out) == 0
    assert decode_bin.main(["--model", str(out), *common]) == 0
    for method in METHODS.split(","):
        assert hyps(out, method) == hyps(exp, method), method
    # what the dir holds
    weights = torch_load(out / "model.pt")
    assert all(isinstance(v, torch.Tensor) for v in weights.values())  # weights only
    assert torch.equal(
        weights["output.weight"], torch.load(exp / "checkpoint-2.pt")["model"]["output.weight"]
    )
    assert load_yaml(out / "config.yaml") == ckpt.load_checkpoint(exp / "checkpoint-2.pt")["config"]
    names = {"tokenizer/tokens.txt", "tokenizer/tokenizer.json", "tokens.txt", "words.txt"}
    names |= (
        {"HLG.pt", "LG.pt", "G_3_gram.pt", "G_4_gram.pt", "lm_orders.json"}
        if "1best" in METHODS
        else set()
    )
    assert all((out / "lang" / n).is_file() for n in names), sorted(names)
    info = json.loads((out / "export.json").read_text())
    assert (info["task"], info["weights"], info["update"]) == ("asr_ctc", "checkpoint", 2)
    readme = (out / "README.md").read_text()
    assert "asr_ctc" in readme and "update 2" in readme and "checkpoint-2.pt" in readme
    assert "## Results" in readme and "ctc-greedy-search\t" in readme  # summary-t.txt


def test_load_model_reads_the_export_as_the_same_model(tmp_path, exp, lang):
    assert export(exp, tmp_path / "model") == 0
    ours, theirs = xlsr.load_model(tmp_path / "model"), xlsr.load_model(exp)
    assert ours.kind == "exported" and ours.lang_dir == tmp_path / "model" / "lang"
    assert ours.vocabulary == theirs.vocabulary and ours.config == theirs.config
    from xlsr.testing.checkpoints import padded_batch

    wav, lengths = padded_batch([4000, 2500])
    with torch.no_grad():
        torch.testing.assert_close(ours(wav, lengths)[0], theirs(wav, lengths)[0], rtol=0, atol=0)


def test_the_averaged_weights_and_a_file(tmp_path, exp, lang):
    other = tiny_head_model("ctc", len(xlsr.load_model(exp).vocabulary), seed=7)
    state = ckpt.load_checkpoint(exp / "checkpoint-1.pt")
    torch.save(
        {"model": other.state_dict(), "config": state["config"], "update": 5}, exp / "averaged.pt"
    )
    assert export(exp, tmp_path / "avg", "--checkpoint", "averaged") == 0
    got = torch_load(tmp_path / "avg" / "model.pt")
    assert torch.equal(got["output.bias"], other.state_dict()["output.bias"])
    info = json.loads((tmp_path / "avg" / "export.json").read_text())
    assert (info["weights"], info["update"]) == ("running_average", 5)
    assert "running average" in (tmp_path / "avg" / "README.md").read_text()
    assert export(exp, tmp_path / "one", "--checkpoint", str(exp / "checkpoint-1.pt")) == 0
    assert json.loads((tmp_path / "one" / "export.json").read_text())["update"] == 1
    assert export(exp, tmp_path / "one") == 0  # an earlier export is replaced
    assert json.loads((tmp_path / "one" / "export.json").read_text())["update"] == 2


def test_audio_files_decode_with_the_export_alone(tmp_path, exp, cuts):
    assert export(exp, tmp_path / "model") == 0
    argv = ["--model", str(tmp_path / "model"), "--cuts", str(cuts.parent / "audio")]
    assert decode_bin.main([*argv, "--methods", "ctc-greedy-search"]) == 0
    lines = tmp_path / "model" / "decode" / "ctc-greedy-search" / "transcripts-audio.txt"
    assert len(lines.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    "case, words",
    [
        ("out_not_an_export", ["--out", "not an earlier export"]),
        ("no_lang_dir", ["is not found from here", "--lang-dir"]),
        ("other_tokens", ["tokens, the model in", "checkpoint-2.pt"]),
        ("no_averaged", ["averaged.pt", "no such file"]),
        ("not_an_exp_dir", ["--exp-dir", "no such directory"]),
    ],
)
def test_what_cannot_be_exported_is_named(capsys, tmp_path, exp, lang, case, words):
    out, extra = tmp_path / "out", []
    if case == "out_not_an_export":
        out.mkdir()
        (out / "precious.txt").write_text("keep me")
    elif case == "no_lang_dir":
        state = ckpt.load_checkpoint(exp / "checkpoint-2.pt")
        state["config"]["lang_dir"] = "data/nowhere"
        torch.save(state, exp / "checkpoint-2.pt")
    elif case == "other_tokens":
        make_tiny_lang_dir(tmp_path / "other", ["alpha beta", "gamma delta"], graphs=False)
        extra = ["--lang-dir", str(tmp_path / "other")]
    elif case == "no_averaged":
        extra = ["--checkpoint", "averaged"]
    else:
        exp = tmp_path / "nothing"
    message = refused(capsys, lambda: export(exp, out, *extra))
    assert all(w in message for w in words), message
    assert case == "out_not_an_export" or not out.exists()
    if case == "out_not_an_export":
        assert (out / "precious.txt").read_text() == "keep me"


def test_an_export_refuses_checkpoint_options_and_another_task(capsys, tmp_path, exp, cuts):
    assert export(exp, tmp_path / "model") == 0
    argv = ["--model", str(tmp_path / "model"), "--cuts", str(cuts)]
    message = refused(capsys, lambda: decode_bin.main([*argv, "--checkpoint", "averaged"]))
    assert "an exported model" in message and "--checkpoint" in message
    message = refused(capsys, lambda: decode_bin.main(["--task", "asr_transducer", *argv]))
    assert "a model of the task asr_ctc, not asr_transducer" in message
