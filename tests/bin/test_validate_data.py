"""python -m xlsr.bin.validate_data: every fault of a manifest counted under its reason."""

import json

import pytest
from lhotse import CutSet
from lhotse.utils import fastcopy

from xlsr.bin.validate_data import main
from xlsr.data.validate import ValidateConfig, validate_manifest
from xlsr.testing.corpus import make_tiny_cutset, make_truncated_wav_cut
from xlsr.testing.lang import make_tiny_lang_dir

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread.*")


def with_text(cut, text):
    return fastcopy(cut, supervisions=[fastcopy(cut.supervisions[0], text=text)])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A clean manifest, a manifest with one cut per fault, and a char lang dir."""
    root = tmp_path_factory.mktemp("validate")
    clean = make_tiny_cutset(root / "audio", n=12, durations=[1.0, 1.5, 2.0] * 4)
    lang_dir = root / "lang"  # knows every character of the tiny corpus (en, de, fr)
    make_tiny_lang_dir(lang_dir, [c.supervisions[0].text for c in clean], graphs=False)
    clean.to_file(root / "clean.jsonl.gz")
    missing = make_tiny_cutset(root / "audio", n=1, prefix="missing")[0]
    (root / "audio" / "missing-0000.wav").unlink()
    narrow = make_tiny_cutset(root / "audio", n=1, durations=[1.5], sample_rate=8000, prefix="8k")
    texts = make_tiny_cutset(root / "audio", n=3, durations=[1.0, 1.0, 0.3], prefix="text")
    empty, unknown, crowded = texts
    bad = [
        *clean,
        missing,
        make_truncated_wav_cut(root / "audio", "short-0000", duration=1.0, missing=0.3),
        narrow[0],  # 8 kHz: resampled on load, a note only
        with_text(empty, "  "),
        with_text(unknown, "one \u4e8c two \U0001f600"),
        with_text(crowded, "one two three four five six"),  # 27 chars, 14 frames in 0.3 s
    ]
    CutSet.from_cuts(bad).to_file(root / "bad.jsonl.gz")
    return root, lang_dir


def test_each_fault_counted_under_its_reason(data, tmp_path, capsys):
    # Invariant: one cut per fault, each counted once under its own reason; the 8 kHz cut is
    # a note; the report names the cut and its file; exit status 1.
    root, lang_dir = data
    out = tmp_path / "report.json"
    rc = main([str(root / "bad.jsonl.gz"), "--lang-dir", str(lang_dir), "--json", str(out)])
    assert rc == 1
    (report,) = json.loads(out.read_text())
    faults = ["unreadable_audio", "duration_mismatch", "empty_text", "unknown_symbols"]
    assert report["counts"] == dict.fromkeys([*faults, "ctc_infeasible"], 1)
    assert report["notes"] == {"resampled": 1} and report["num_cuts"] == 18
    assert report["num_dropped"] == 5 and not report["ok"]
    assert report["examples"]["unreadable_audio"][0]["cut"] == "missing-0000"
    missing = report["examples"]["unreadable_audio"][0]
    assert missing["file"].endswith("missing-0000.wav") and missing["detail"] == "no such file"
    assert report["examples"]["duration_mismatch"][0]["cut"] == "short-0000"
    assert report["examples"]["resampled"][0]["detail"] == "8000 Hz"
    assert set(report["unknown_symbols"]) == {"\u4e8c", "\U0001f600"}
    table = capsys.readouterr().out
    for word in [*faults, "ctc_infeasible", "resampled", "text-0002", "short-0000.wav"]:
        assert word in table


def test_clean_manifest_exits_0(data, capsys):
    root, lang_dir = data
    assert main([str(root / "clean.jsonl.gz"), "--lang-dir", str(lang_dir)]) == 0
    assert "0 would be dropped" in capsys.readouterr().out


def test_without_lang_dir_or_ctc_the_text_checks_are_skipped(data):
    # Invariant: without a lang dir only audio and empty text are checked; --ctc false
    # (a transducer) keeps the cut that CTC could not align.
    root, lang_dir = data
    from lhotse import load_manifest

    cuts = load_manifest(root / "bad.jsonl.gz")
    audio_only = validate_manifest(cuts)
    assert set(audio_only.counts) == {"unreadable_audio", "duration_mismatch", "empty_text"}
    no_ctc = validate_manifest(cuts, lang_dir, ValidateConfig(ctc=False))
    assert "ctc_infeasible" not in no_ctc.counts and "unknown_symbols" in no_ctc.counts
    assert main([str(root / "bad.jsonl.gz"), "--ctc", "false", "--require-text", "false"]) == 1


def test_missing_manifest_or_lang_dir_is_an_error(data, tmp_path, capsys):
    root, _ = data
    assert main([str(tmp_path / "nope.jsonl.gz")]) == 2
    assert main([str(root / "clean.jsonl.gz"), "--lang-dir", str(tmp_path)]) == 2
    assert "nope.jsonl.gz" in capsys.readouterr().err
