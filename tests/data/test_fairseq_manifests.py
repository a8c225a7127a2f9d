"""fairseq manifests: import, export byte-for-byte as fairseq's scripts write them, round trip."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf
from lhotse import CutSet

from xlsr.bin.fairseq_manifests import main
from xlsr.data.fairseq_manifests import (
    FairseqExportConfig,
    FairseqImportConfig,
    export_fairseq,
    import_fairseq,
    letters,
    text_from_letters,
)
from xlsr.testing.corpus import make_tiny_cutset, tone

#: (relative path, samples, words, language) of the fake corpus, in tsv order.
ROWS = [
    ("spk1/a.wav", 8000, "hello world", "en"),
    ("spk1/b.flac", 4000, "guten tag", "de"),
    ("spk2/c.wav", 12000, "one", "en"),
]


@pytest.fixture
def fairseq_dir(tmp_path: Path) -> Path:
    """A fairseq data dir ``fs/`` for the audio under ``audio/``, written by hand."""
    audio, d = tmp_path / "audio", tmp_path / "fs"
    d.mkdir()
    for i, (rel, n, _, _) in enumerate(ROWS):
        (audio / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(audio / rel), tone(n / 16000, freq=300.0 + 100 * i, seed=i), 16000)
    tsv = f"{audio}\n" + "".join(f"{rel}\t{n}\n" for rel, n, _, _ in ROWS)
    (d / "train.tsv").write_text(tsv)
    (d / "train.wrd").write_text("hello world\nguten tag\none\n")
    (d / "train.ltr").write_text("h e l l o | w o r l d |\ng u t e n | t a g |\no n e |\n")
    (d / "train.label").write_text("en\nde\nen\n")
    return d


def test_import_recordings_texts_labels(fairseq_dir: Path):
    # one whole-file cut per row, in row order, ids = relative paths without suffix
    cuts = import_fairseq(fairseq_dir, "train", FairseqImportConfig(label_field="language"))
    assert [c.id for c in cuts] == ["spk1/a", "spk1/b", "spk2/c"]
    assert [c.duration for c in cuts] == [0.5, 0.25, 0.75]
    assert [c.supervisions[0].text for c in cuts] == [r[2] for r in ROWS]
    assert [c.supervisions[0].language for c in cuts] == [r[3] for r in ROWS]
    assert cuts[1].recording.sources[0].source.endswith("spk1/b.flac")
    assert cuts[0].load_audio().shape == (1, 8000)


def test_import_text_from_ltr_and_speaker_label(fairseq_dir: Path):
    (fairseq_dir / "train.wrd").unlink()
    cuts = import_fairseq(fairseq_dir, "train", FairseqImportConfig(label_field="speaker"))
    assert [c.supervisions[0].text for c in cuts] == [r[2] for r in ROWS]
    assert [c.supervisions[0].speaker for c in cuts] == ["en", "de", "en"]
    assert text_from_letters("H I | T H E R E |") == "HI THERE"


def test_export_bytes_as_fairseq_writes_them(tmp_path: Path, fairseq_dir: Path):
    # .tsv as wav2vec_manifest.py, .wrd/.ltr as libri_labels.py, dicts as Dictionary.save
    cuts = import_fairseq(fairseq_dir, "train", FairseqImportConfig(label_field="language"))
    out = tmp_path / "out"
    export_fairseq(cuts, out, "train", cfg=FairseqExportConfig(label_field="language"))
    for name in ("train.tsv", "train.wrd", "train.ltr", "train.label"):
        assert (out / name).read_bytes() == (fairseq_dir / name).read_bytes(), name
    # most frequent first, ties in symbol order
    assert (out / "dict.ltr.txt").read_text() == (
        "| 5\ne 3\nl 3\no 3\ng 2\nn 2\nt 2\na 1\nd 1\nh 1\nr 1\nu 1\nw 1\n"
    )
    assert (out / "dict.label.txt").read_text() == "en 2\nde 1\n"


def test_export_upper_case_and_outside_root(tmp_path: Path, fairseq_dir: Path):
    cuts = import_fairseq(fairseq_dir, "train")
    out = tmp_path / "out"
    export_fairseq(
        cuts,
        out,
        "train",
        root=tmp_path / "audio" / "spk1",
        cfg=FairseqExportConfig(upper_case=True),
    )
    lines = (out / "train.tsv").read_text().splitlines()
    assert lines[1:3] == ["a.wav\t8000", "b.flac\t4000"]
    assert lines[3] == f"{tmp_path / 'audio' / 'spk2' / 'c.wav'}\t12000"  # absolute: not under root
    assert (out / "train.ltr").read_text().splitlines()[0] == "H E L L O | W O R L D |"
    assert letters("a b") == "a | b |"


def test_round_trip(tmp_path: Path):
    # export -> import gives the same recordings (file, samples, rate), texts and labels
    cuts = make_tiny_cutset(tmp_path / "audio", n=4, audio_format="flac")
    cfg = FairseqExportConfig(label_field="speaker", label_ext="spk")
    export_fairseq(cuts, tmp_path / "fs", "valid", cfg=cfg)
    assert (tmp_path / "fs" / "dict.spk.txt").read_text() == "spk0 2\nspk1 1\nspk2 1\n"
    icfg = FairseqImportConfig(label_field="speaker", label_ext="spk")
    back = import_fairseq(tmp_path / "fs", "valid", icfg)
    assert len(back) == len(cuts)
    for a, b in zip(cuts, back):
        assert a.id == b.id
        assert a.recording.sources[0].source == b.recording.sources[0].source
        assert (a.recording.num_samples, a.sampling_rate) == (
            b.recording.num_samples,
            b.sampling_rate,
        )
        assert a.supervisions[0].text == b.supervisions[0].text
        assert a.supervisions[0].speaker == b.supervisions[0].speaker


def test_export_refuses_partial_cuts(tmp_path: Path):
    cuts = make_tiny_cutset(tmp_path / "audio", n=2, durations=[1.0, 1.0])
    part = CutSet.from_cuts(
        [cuts[0], cuts[1].truncate(offset=0.25, duration=0.5, preserve_id=True)]
    )
    with pytest.raises(ValueError, match=r"1 of 2 cuts .*utt-0001 \(covers 0.250-0.750 s"):
        export_fairseq(part, tmp_path / "fs", "train")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: (d / "train.tsv").write_text(""), r"train.tsv:1: expected the root"),
        (lambda d: (d / "train.tsv").write_text("a.wav\t10\n"), r"train.tsv:1: expected the root"),
        (
            lambda d: (d / "train.tsv").write_text((d / "train.tsv").read_text() + "x.wav\n"),
            r"train.tsv:5: expected 2 tab-separated columns .* got 1",
        ),
        (
            lambda d: (d / "train.wrd").write_text("hello world\nguten tag\n"),
            r"train.wrd: 2 lines but .*train.tsv has 3 rows",
        ),
        (
            lambda d: (d / "train.label").write_text("en\nde\nen\nfr\n"),
            r"train.label: 4 lines but .*train.tsv has 3 rows",
        ),
        (
            lambda d: (d / "train.tsv").write_text(
                (d / "train.tsv").read_text().replace("4000", "4001")
            ),
            r"train.tsv:3: .*b.flac has 4000 samples, the tsv says 4001",
        ),
    ],
    ids=["empty", "no-root", "columns", "wrd-count", "label-count", "num-samples"],
)
def test_errors_name_file_and_line(fairseq_dir: Path, edit, match):
    edit(fairseq_dir)
    with pytest.raises(ValueError, match=match):
        import_fairseq(fairseq_dir, "train", FairseqImportConfig(label_field="language"))


def test_skip_bad_rows_counted(fairseq_dir: Path, caplog):
    (fairseq_dir / "train.tsv").write_text(
        (fairseq_dir / "train.tsv").read_text().replace("spk2/c.wav", "spk2/missing.wav")
    )
    with caplog.at_level(logging.WARNING):
        cuts = import_fairseq(fairseq_dir, "train", FairseqImportConfig(skip_bad=True))
    assert [c.id for c in cuts] == ["spk1/a", "spk1/b"]
    assert "skipped 1 of 3 rows" in caplog.text and "train.tsv:4: cannot read" in caplog.text


def test_command_import_export(tmp_path: Path, fairseq_dir: Path, capsys):
    out_cuts = tmp_path / "m" / "cuts_train.jsonl.gz"
    argv = ["import", "--manifest-dir", str(fairseq_dir), "--split", "train"]
    assert main(argv + ["--output", str(out_cuts), "--label-field", "language"]) == 0
    argv = [
        "export",
        "--cuts",
        str(out_cuts),
        "--output-dir",
        str(tmp_path / "o"),
        "--split",
        "train",
    ]
    assert main(argv + ["--label-field", "language"]) == 0
    for name in ("train.tsv", "train.wrd", "train.ltr", "train.label"):
        assert (tmp_path / "o" / name).read_bytes() == (fairseq_dir / name).read_bytes()
    assert main(["import", "--manifest-dir", str(tmp_path), "--split", "x", "--output", "y"]) == 2
    assert "no fairseq manifest" in capsys.readouterr().err
