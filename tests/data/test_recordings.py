"""scan_recordings: one lhotse Recording per (id, path), in order, the same with several
processes as with one; an unreadable file is an error naming it."""

import pytest

from xlsr.data.recordings import scan_recordings
from xlsr.testing.corpus import make_tiny_cutset


def test_parallel_scan_equals_the_serial_one_in_order(tmp_path):
    cuts = make_tiny_cutset(tmp_path / "audio", n=5, durations=[0.5, 1.0, 0.7, 1.2, 0.3])
    items = [(f"r{i}", c.recording.sources[0].source) for i, c in enumerate(cuts)]
    serial = list(scan_recordings(items, num_jobs=1))
    parallel = list(scan_recordings(items, num_jobs=2))
    assert [r.id for r in serial] == [f"r{i}" for i in range(5)]
    assert [r.to_dict() for r in parallel] == [r.to_dict() for r in serial]
    assert [round(r.duration, 3) for r in serial] == [round(c.duration, 3) for c in cuts]


def test_an_unreadable_file_names_itself(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(Exception, match="bad.wav"):
        list(scan_recordings([("bad", str(bad))]))


def test_whole_recordings_are_written_with_one_supervision_each(tmp_path):
    # Invariant: three manifests in item order, each cut one recording with one supervision
    # over all of it carrying the given fields.
    from lhotse import load_manifest

    from xlsr.data.recordings import write_whole_recordings

    cuts = make_tiny_cutset(tmp_path / "audio", n=2, durations=[0.5, 1.0])
    paths = [c.recording.sources[0].source for c in cuts]
    items = [("a", paths[0], {"speaker": "s1", "text": "hi"}), ("b", paths[1], {"language": "de"})]
    write_whole_recordings(items, tmp_path / "out", "x", "train", num_jobs=2)
    out = load_manifest(tmp_path / "out" / "x_cuts_train.jsonl.gz")
    assert [c.id for c in out] == ["a", "b"]
    assert [round(c.duration, 3) for c in out] == [0.5, 1.0]
    sups = [c.supervisions[0] for c in out]
    assert (sups[0].speaker, sups[0].text, sups[1].language) == ("s1", "hi", "de")
    assert all(s.start == 0 and s.duration == c.duration for s, c in zip(sups, out))
    for kind in ("recordings", "supervisions"):
        assert len(load_manifest(tmp_path / "out" / f"x_{kind}_train.jsonl.gz")) == 2


def test_read_header_tsv_by_column_name_verbatim_and_escaped(tmp_path):
    # Invariant: rows keyed by the header (extra columns harmless), fields verbatim (a leading
    # double quote is no CSV quoting), backslash escapes only when asked; a missing needed
    # column names the file.
    from xlsr.data.recordings import read_header_tsv

    path = tmp_path / "train.tsv"
    path.write_text('path\tsentence\tnew\na.mp3\t"Hi" he said\tx\nb.mp3\tsay \\"no\\"\ty\n')
    rows = read_header_tsv(path, ("path", "sentence"))
    assert [r["sentence"] for r in rows] == ['"Hi" he said', 'say \\"no\\"'] and rows[0][
        "new"
    ] == "x"
    assert read_header_tsv(path, ("path",), escaped=True)[1]["sentence"] == 'say "no"'
    with pytest.raises(ValueError, match=r"train.tsv: no column client_id"):
        read_header_tsv(path, ("path", "client_id"))
