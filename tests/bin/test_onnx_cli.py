"""xlsr.bin.export_onnx and xlsr.bin.decode_onnx on tiny exp dirs: the files onnx.json lists,
a result per method and precision with timing, and errors that name the option or file.
CTC graphs (HLG.fst, H.fst) need k2; everything else runs in both lanes."""

import json
import shutil

import pytest

from xlsr.bin import decode_onnx, export_onnx
from xlsr.graph.k2_utils import has_k2
from xlsr.models.onnx_export import MAX_IR_VERSION
from xlsr.testing.decode import make_decode_exp, make_test_set
from xlsr.testing.lang import make_tiny_lang_dir

K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"
N_UTTS, MISSING = 4, 2  # test set: utt-0002's audio is gone
CTC_METHODS = ["sherpa-greedy", "ort-greedy"] + (["sherpa-hlg", "sherpa-h", "ort-hlg"] * has_k2())
TRANSDUCER_METHODS = ["ort-greedy_search", "ort-modified_beam_search"]
PRECISIONS = ["fp32", "int8"]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_cli")


@pytest.fixture(scope="module")
def lang(tmp):
    make_tiny_lang_dir(tmp / "lang", graphs=has_k2())
    return tmp / "lang"


@pytest.fixture(scope="module")
def cuts(tmp):
    return make_test_set(tmp / "data", n=N_UTTS, missing=[MISSING], durations=[1.0, 0.6, 1.0, 1.4])


def _export(exp, out, *extra):
    assert export_onnx.main(["--model", str(exp), "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def ctc_onnx(tmp, lang, cuts):
    """The --int8 ONNX export of a CTC exp dir, decoded with CTC_METHODS x PRECISIONS."""
    exp = make_decode_exp(tmp / "exp_ctc", lang, head="ctc")
    out = _export(exp, exp / "onnx", "--int8")
    argv = ["--model", str(out), "--cuts", str(cuts), "--methods", ",".join(CTC_METHODS)]
    assert decode_onnx.main(argv + ["--precisions", ",".join(PRECISIONS)]) == 0
    return out


@pytest.fixture(scope="module")
def transducer_onnx(tmp, lang, cuts):
    """The --int8 ONNX export of a transducer exp dir (through --exp-dir), decoded with the
    default methods and both precisions."""
    exp = make_decode_exp(tmp / "exp_transducer", lang, head="transducer")
    out = tmp / "transducer_onnx"
    assert export_onnx.main(["--exp-dir", str(exp), "--out", str(out), "--int8"]) == 0
    assert (
        decode_onnx.main(["--model", str(out), "--cuts", str(cuts), "--precisions", "fp32,int8"])
        == 0
    )
    return out


def _info(out):
    return json.loads((out / "onnx.json").read_text(encoding="utf-8"))


def _check_listed_files(out, task, models):
    info = _info(out)
    assert info["task"] == task and info["int8"] is True
    assert sorted(info["files"]) == sorted(
        [f"{m}.onnx" for m in models] + [f"{m}.int8.onnx" for m in models]
    )
    for name, size in info["files"].items():
        assert (out / name).stat().st_size == size, name
    for name in info["other_files"]:
        assert (out / name).is_file(), name
    assert info["ir_version"] <= MAX_IR_VERSION and info["opset"] == 17
    assert (out / "README.md").is_file() and "tokens.txt" in info["other_files"]
    return info


def test_export_ctc_writes_the_listed_files(ctc_onnx):
    info = _check_listed_files(ctc_onnx, "asr_ctc", ["model"])
    assert info["sherpa_exact"] is True
    if has_k2():
        assert {"HLG.fst", "words.txt", "H.fst"} <= set(info["other_files"])


def test_export_transducer_writes_the_listed_files(transducer_onnx):
    _check_listed_files(transducer_onnx, "asr_transducer", ["encoder", "decoder", "joiner"])


def _rows(out, result):
    path = out / "decode" / result / "hyps-cuts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_results(out, methods):
    for method in methods:
        for precision in PRECISIONS:
            result = f"{method}/{precision}"
            rows = _rows(out, result)
            assert [r["id"] for r in rows] == [f"utt-{i:04d}" for i in range(N_UTTS)], result
            assert [i for i, r in enumerate(rows) if "skipped" in r] == [MISSING], result
            score = json.loads((out / "decode" / result / "score-cuts.json").read_text())
            timing = score["timing"]
            assert timing["rtf"] > 0 and timing["audio_seconds"] == pytest.approx(3.0), result
            assert score["skipped"]["count"] == 1
    assert (out / "decode" / "summary-cuts.txt").is_file()


def test_decode_ctc_writes_every_method_and_precision(ctc_onnx):
    _check_results(ctc_onnx, CTC_METHODS)


def test_ort_greedy_equals_sherpa_greedy(ctc_onnx):
    ort, sherpa = _rows(ctc_onnx, "ort-greedy/fp32"), _rows(ctc_onnx, "sherpa-greedy/fp32")
    assert [r["hyp"] for r in ort] == [r["hyp"] for r in sherpa]
    assert any(r["hyp"] for r in ort)


@pytest.mark.skipif(not has_k2(), reason=K2_REASON)
def test_sherpa_hlg_equals_ort_hlg(ctc_onnx):
    for precision in PRECISIONS:
        ort, sherpa = (
            _rows(ctc_onnx, f"ort-hlg/{precision}"),
            _rows(ctc_onnx, f"sherpa-hlg/{precision}"),
        )
        assert [r["hyp"] for r in ort] == [r["hyp"] for r in sherpa]


def test_decode_transducer_writes_every_method_and_precision(transducer_onnx):
    _check_results(transducer_onnx, TRANSDUCER_METHODS)


# ----------------------------------------------------------------------------------- errors


def test_decode_refuses_a_dir_that_is_not_an_onnx_export(tmp, lang, cuts):
    exp = make_decode_exp(tmp / "exp_plain", lang, head="ctc")
    with pytest.raises(SystemExit, match=r"--model .*exp_plain.*not an ONNX export"):
        decode_onnx.main(["--model", str(exp), "--cuts", str(cuts)])


def test_decode_int8_needs_an_int8_export(transducer_onnx, tmp_path, cuts):
    out = shutil.copytree(
        transducer_onnx, tmp_path / "onnx", ignore=shutil.ignore_patterns("*.int8.onnx", "decode")
    )
    decode_onnx.main(
        ["--model", str(out), "--cuts", str(cuts), "--methods", "ort-greedy_search"]
    )  # fp32 works
    with pytest.raises(
        SystemExit,
        match=r"--precisions int8: .*encoder\.int8\.onnx is missing \(export with --int8\)",
    ):
        decode_onnx.main(["--model", str(out), "--cuts", str(cuts), "--precisions", "int8"])


def test_decode_sherpa_hlg_needs_hlg_fst(ctc_onnx, tmp_path, cuts):
    out = shutil.copytree(
        ctc_onnx, tmp_path / "onnx", ignore=shutil.ignore_patterns("HLG.fst", "decode")
    )
    with pytest.raises(SystemExit, match=r"--methods sherpa-hlg: .*HLG\.fst is missing"):
        decode_onnx.main(["--model", str(out), "--cuts", str(cuts), "--methods", "sherpa-hlg"])


def test_decode_refuses_a_method_of_the_other_task(transducer_onnx, cuts):
    with pytest.raises(SystemExit, match="sherpa-greedy"):
        decode_onnx.main(
            ["--model", str(transducer_onnx), "--cuts", str(cuts), "--methods", "sherpa-greedy"]
        )


def test_decode_refuses_an_unknown_precision(transducer_onnx, cuts):
    with pytest.raises(SystemExit, match=r"--precisions 'fp16'"):
        decode_onnx.main(
            ["--model", str(transducer_onnx), "--cuts", str(cuts), "--precisions", "fp16"]
        )


@pytest.mark.parametrize(
    "option", ["--num-threads", "--max-active", "--search-beam", "--beam-size"]
)
def test_decode_refuses_a_non_positive_option(transducer_onnx, cuts, option):
    argv = ["--model", str(transducer_onnx), "--cuts", str(cuts), option, "0"]
    with pytest.raises(SystemExit, match=f"{option} must be > 0, got 0"):
        decode_onnx.main(argv)


def test_export_refuses_a_model_that_is_not_asr(tmp_path):
    from xlsr.testing.checkpoints import random_encoder, tiny_config, write_hf_classifier_dir

    model = write_hf_classifier_dir(random_encoder(tiny_config()), tmp_path / "cls", ["yes", "no"])
    with pytest.raises(SystemExit, match=r"--model .*cls: a \w+ model; ONNX export covers"):
        export_onnx.main(["--model", str(model), "--out", str(tmp_path / "onnx")])
    assert not (tmp_path / "onnx" / "onnx.json").exists()


def test_export_refuses_a_missing_model(tmp_path):
    with pytest.raises(SystemExit, match="export_onnx: .*nowhere"):
        export_onnx.main(["--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "onnx")])
