"""LangDir names every file of a lang dir once and knows the LM orders it was built with;
build_graphs is the one graph step (recipe, HF path, test helpers); ``--lm-orders 3,5``
decodes with the 5-gram through ``python -m xlsr.bin.decode --task asr_ctc``."""

import argparse
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from xlsr.graph.lang_dir import LangDir, LangDirError, orders_arg, parse_orders
from xlsr.testing.lang import make_tiny_lang_dir

ROOT = Path(__file__).resolve().parents[2]
K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"


def run_script(monkeypatch, script: str, *args: str) -> None:
    """Runs ``local/<script>`` in this process with ``args`` as its command line."""
    path = str(ROOT / "local" / script)
    monkeypatch.setattr(sys, "argv", [path, *map(str, args)])
    runpy.run_path(path, run_name="__main__")


# ------------------------------------------------------------------------------- names


def test_every_file_has_one_name(tmp_path):
    lang = LangDir(str(tmp_path))  # a str is taken as well as a Path
    assert lang.path == tmp_path
    names = {
        "tokenizer": lang.tokenizer_dir,
        "tokenizer/tokens.txt": lang.tokenizer_tokens,
        "text_norm.json": lang.text_norm,
        "tokens.txt": lang.tokens,
        "words.txt": lang.words,
        "lexicon.txt": lang.lexicon,
        "lexicon_disambig.txt": lang.lexicon_disambig,
        "lang.json": lang.meta,
        "L.pt": lang.L,
        "L_disambig.pt": lang.L_disambig,
        "Linv.pt": lang.Linv,
        "lm/5gram.arpa": lang.arpa(5),
        "G_5_gram.pt": lang.G(5),
        "lm_orders.json": lang.orders_file,
        "LG.pt": lang.LG,
        "HLG.pt": lang.HLG,
        "HLG.fst": lang.HLG_fst,
    }
    for name, path in names.items():
        assert path == tmp_path / name and lang.name(path) == name


def test_orders_default_to_3_and_4_and_follow_the_record(tmp_path):
    # Invariant: a lang dir without lm_orders.json is one of today's recipe (3-gram graphs,
    # 4-gram rescoring); with it, first_pass_G / rescore_G follow the recorded orders.
    lang = LangDir(tmp_path)
    assert lang.orders == (3, 4)
    assert (lang.first_pass_G.name, lang.rescore_G.name) == ("G_3_gram.pt", "G_4_gram.pt")
    lang.write_orders(3, 5)
    assert json.loads(lang.orders_file.read_text()) == {"first_pass_order": 3, "rescore_order": 5}
    assert (lang.first_pass_order, lang.rescore_order) == (3, 5)
    assert (lang.first_pass_G.name, lang.rescore_G.name) == ("G_3_gram.pt", "G_5_gram.pt")


BROKEN = ["{not json", '{"first_pass_order": 3}', '{"first_pass_order": 0, "rescore_order": 4}']


@pytest.mark.parametrize("content", BROKEN)
def test_a_broken_orders_record_is_named(tmp_path, content):
    lang = LangDir(tmp_path)
    lang.orders_file.write_text(content)
    with pytest.raises(ValueError, match=r"lm_orders\.json: expected .*local/train_lm\.py"):
        lang.rescore_G  # noqa: B018


@pytest.mark.parametrize("text, orders", [("3,5", (3, 5)), ("3", (3, 3)), (" 2 , 4 ", (2, 4))])
def test_parse_orders(text, orders):
    assert parse_orders(text) == orders


@pytest.mark.parametrize("text", ["3,four", "3,4,5", "0,4", "", "3,", "-3"])
def test_bad_orders_are_refused_naming_them(text):
    with pytest.raises(ValueError, match="FIRST_PASS"):
        parse_orders(text)
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=orders_arg)
    with pytest.raises(SystemExit):
        p.parse_args(["--orders", text])


@pytest.mark.parametrize("order", [0, -1, "3", 3.0, True])
def test_an_order_is_a_positive_int(tmp_path, order):
    with pytest.raises(ValueError, match="positive integer"):
        LangDir(tmp_path).G(order)


@pytest.mark.parametrize(
    "name, maker",
    [
        ("HLG", "local/compile_graphs.py (run.sh stage 3"),
        ("LG", "local/compile_graphs.py (run.sh stage 3"),
        ("rescore_G", "local/train_lm.py --orders (run.sh stage 2, --lm-orders)"),
        ("words", "local/prepare_lang.py (run.sh stage 2"),
        ("L_disambig", "local/prepare_lang.py"),
        ("tokenizer_tokens", "local/prepare_lang.py"),
    ],
)
def test_a_missing_file_is_named_with_its_maker(tmp_path, name, maker):
    lang = LangDir(tmp_path)
    path = getattr(lang, name)
    with pytest.raises(LangDirError, match="no such file") as e:
        lang.require(path)
    assert str(path) in str(e.value) and maker in str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    assert lang.require(path) == path


# ------------------------------------------------------------------- the LM step, no k2


def test_train_lm_writes_both_orders_and_records_them(tmp_path, monkeypatch):
    # local/train_lm.py --orders 3,5: lm/3gram.arpa and lm/5gram.arpa (and their G with k2),
    # and lm_orders.json says which is which. Runs in both lanes.
    pytest.importorskip("kaldingram", reason="kaldingram is not installed")
    make_tiny_lang_dir(tmp_path, graphs=False)
    text = tmp_path / "text.txt"
    text.write_text("one two three\nthree two one\nfour five six one\n")
    run_script(
        monkeypatch, "train_lm.py", "--lang-dir", tmp_path, "--text", text, "--orders", "3,5"
    )
    lang = LangDir(tmp_path)
    assert lang.orders == (3, 5)
    assert "\\5-grams:" in lang.arpa(5).read_text() and lang.arpa(3).exists()
    assert not lang.arpa(4).exists()
    try:
        import k2  # noqa: F401
    except ImportError:
        assert not lang.G(3).exists()
    else:
        assert lang.G(3).exists() and lang.G(5).exists() and not lang.G(4).exists()


# ---------------------------------------------------------------------- build_graphs (k2)


@pytest.fixture(scope="module")
def lang35(tmp_path_factory):
    """A tiny lang dir built with --lm-orders 3,5 (no G_4_gram.pt)."""
    pytest.importorskip("k2", reason=K2_REASON)
    path = tmp_path_factory.mktemp("lang35") / "lang_char"
    paths = make_tiny_lang_dir(path, lm_orders=(3, 5))
    return LangDir(path), paths


def test_tiny_lang_dir_is_built_by_build_graphs(lang35):
    lang, paths = lang35
    expected = ["tokens.txt", "words.txt", "lexicon.txt", "L.pt", "L_disambig.pt", "Linv.pt"]
    expected += ["G_3_gram.pt", "G_5_gram.pt", "lm_orders.json", "LG.pt", "HLG.pt", "HLG.fst"]
    assert sorted(paths) == sorted(expected)
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert lang.orders == (3, 5) and not lang.G(4).exists()
    assert lang.arpa(3).exists() and lang.arpa(5).exists()


def test_graphs_come_from_the_first_pass_G(lang35):
    # Invariant: HLG.pt and LG.pt are exactly what compile_lg/compile_hlg give for
    # G_<first_pass_order>_gram.pt.
    import k2

    from xlsr.data.tokenizer import Tokenizer
    from xlsr.graph.compile import compile_hlg, compile_lg, load_fsa

    lang, _ = lang35
    LG = compile_lg(lang.path, load_fsa(lang.G(3)))
    assert k2.to_str_simple(LG) == k2.to_str_simple(load_fsa(lang.LG))
    max_token_id = Tokenizer(lang.tokenizer_dir).vocab_size - 1
    HLG = load_fsa(lang.HLG)
    assert k2.to_str_simple(compile_hlg(LG, max_token_id)) == k2.to_str_simple(HLG)


def test_build_graphs_names_a_missing_first_pass_G(lang35, tmp_path):
    from xlsr.graph.compile import build_graphs

    lang, _ = lang35
    with pytest.raises(LangDirError, match=r"G_4_gram\.pt: no such file.*local/train_lm\.py"):
        build_graphs(lang.path, 4, 5)
    assert lang.orders == (3, 5)  # nothing recorded by a failed build


def test_compile_graphs_script_takes_the_recorded_orders(lang35, tmp_path, monkeypatch):
    # local/compile_graphs.py without --lm-orders uses lm_orders.json; with --modified-ctc
    # H is k2's modified topology (another HLG from the same LG).
    import shutil

    import k2

    from xlsr.graph.compile import load_fsa

    lang = LangDir(shutil.copytree(lang35[0].path, tmp_path / "lang"))
    for path in (lang.LG, lang.HLG, lang.HLG_fst):
        path.unlink()
    run_script(monkeypatch, "compile_graphs.py", "--lang-dir", lang.path, "--modified-ctc")
    assert lang.orders == (3, 5)
    assert k2.to_str_simple(load_fsa(lang.LG)) == k2.to_str_simple(load_fsa(lang35[0].LG))
    assert load_fsa(lang.HLG).num_arcs != load_fsa(lang35[0].HLG).num_arcs
    assert lang.HLG_fst.exists()
    run_script(monkeypatch, "compile_graphs.py", "--lang-dir", lang.path, "--lm-orders", "3")
    assert lang.orders == (3, 3)


# ----------------------------------------------------------- --lm-orders 3,5, end to end


def test_lm_orders_3_5_rescore_with_the_5_gram(lang35, tmp_path):
    # Invariant: a lang dir built with orders 3 and 5 has no G_4_gram.pt, and both rescoring
    # methods decode with G_5_gram.pt (the decoder says so in its log).
    from xlsr.testing.decode import make_decode_exp, make_test_set

    lang, _ = lang35
    exp = make_decode_exp(tmp_path / "exp", lang.path)
    cuts = make_test_set(tmp_path / "data", n=2)
    cmd = [sys.executable, "-m", "xlsr.bin.decode", "--task", "asr_ctc", "--exp-dir", str(exp)]
    cmd += ["--lang-dir", str(lang.path), "--cuts", str(cuts), "--test-set", "t"]
    cmd += ["--methods", "nbest-rescoring,whole-lattice-rescoring", "--lm-scales", "0.5"]
    cmd += ["--num-paths", "5", "--search-beam", "8", "--output-beam", "3"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"rescoring with {lang.G(5)} (5-gram; HLG from the 3-gram)" in proc.stderr
    for method in ("nbest-rescoring", "whole-lattice-rescoring"):
        score = exp / "decode" / method / "lm_scale_0.5" / "score-t.json"
        assert json.loads(score.read_text())["utts"] == 2


def test_a_missing_rescoring_G_is_named_before_decoding(lang35, tmp_path, capsys):
    import shutil

    from xlsr.bin import decode
    from xlsr.testing.decode import make_decode_exp, make_test_set

    lang = LangDir(shutil.copytree(lang35[0].path, tmp_path / "lang"))
    lang.G(5).unlink()
    exp = make_decode_exp(tmp_path / "exp", lang.path)
    cuts = make_test_set(tmp_path / "data", n=1)
    argv = ["--exp-dir", str(exp), "--lang-dir", str(lang.path), "--cuts", str(cuts)]
    with pytest.raises(SystemExit, match=r"no G_5_gram\.pt \(needed by nbest-rescoring"):
        decode.main(["--task", "asr_ctc", *argv, "--methods", "1best,nbest-rescoring"])
    assert not (exp / "decode").exists()
