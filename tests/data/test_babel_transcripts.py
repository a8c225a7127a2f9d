"""xlsr.data.babel: BABEL transcripts (time marks, annotations), file names, SPHERE headers,
the held-out split; and that 8 kHz mu-law SPHERE reads through soundfile and lhotse."""

import numpy as np
import pytest
import soundfile as sf

from xlsr.data.babel import (
    Segment,
    has_annotation,
    held_out,
    is_shorten,
    parse_file_name,
    read_transcript,
    sphere_header,
    strip_annotations,
)
from xlsr.testing.corpus import tone
from xlsr.testing.fake_corpora.babel import make_shorten


def _write(tmp_path, text):
    path = tmp_path / "BABEL_OP1_102_10036_20120221_160033_inLine.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_transcript_segments_between_time_marks(tmp_path):
    # Invariant: the text between two marks is a segment from the first to the second; the
    # last mark only ends a segment; an interval without text is a segment with "" text.
    path = _write(tmp_path, "[0.000]\n<no-speech>\n[3.21]\nhello there\n[7.055]\n[8]\nbye\n[9.5]\n")
    segments, trailing = read_transcript(path)
    assert segments == [
        Segment(0.0, 3.21, "<no-speech>"),
        Segment(3.21, 7.055, "hello there"),
        Segment(7.055, 8.0, ""),
        Segment(8.0, 9.5, "bye"),
    ]
    assert not trailing


def test_read_transcript_text_after_the_last_mark_is_flagged(tmp_path):
    segments, trailing = read_transcript(_write(tmp_path, "[0.5]\none\n[1.5]\nno end\n"))
    assert segments == [Segment(0.5, 1.5, "one")] and trailing


def test_read_transcript_errors_name_file_and_line(tmp_path):
    path = _write(tmp_path, "[2.0]\none\n[1.0]\ntwo\n[3.0]\n")
    with pytest.raises(ValueError, match=rf"{path}:3: time mark \[1.0\] is before"):
        read_transcript(path)
    path = _write(tmp_path, "no mark first\n[1.0]\n")
    with pytest.raises(ValueError, match=rf"{path}:1: text before the first time mark"):
        read_transcript(path)


@pytest.mark.parametrize(
    "raw, words",
    [
        ("<no-speech>", ""),
        ("(()) <breath>", ""),
        ("<lipsmack> Alpha (()) brav- *charlie* <hes> delta_ ~", "Alpha brav charlie delta"),
        ("<overlap> echo-foxtrot <foreign> golf", "echo-foxtrot golf"),
        ("-ing ((maybe this)) word~ <male-to-female>", "ing maybe this word"),
        ("<click> <ring> <dtmf> <int> <sta> <prompt> <cough> <laugh> <noise>", ""),
    ],
)
def test_strip_annotations(raw, words):
    assert strip_annotations(raw) == words


def test_has_annotation():
    assert has_annotation("<no-speech>") and has_annotation("(())") and not has_annotation("")


def test_parse_file_name():
    side = parse_file_name("BABEL_OP1_102_10036_20120221_160033_outLine")
    assert side.lang == "102" and side.speaker == "102_10036_B"
    assert side.conversation == "102_10036_20120221_160033"
    assert parse_file_name("BABEL_BP_101_37210_20111102_172955_inLine").speaker == "101_37210_A"
    assert parse_file_name("something_else") is None


def test_held_out_whole_groups_in_md5_order():
    groups = [f"{10000 + i}" for i in range(40)]
    dev = held_out(groups * 2, 0.1)  # repeated names count once
    assert len(dev) == 4 and dev == held_out(reversed(groups), 0.1)  # order-free
    assert len(held_out(groups[:4], 0.1)) == 1  # at least one ...
    assert len(held_out(groups[:2], 0.9)) == 1  # ... and never all
    assert held_out(groups, 0.0) == set() and held_out(groups[:1], 0.5) == set()
    with pytest.raises(ValueError, match="dev fraction"):
        held_out(groups, 1.0)


def test_sphere_mu_law_reads_with_soundfile_and_lhotse(tmp_path):
    # Invariant: the packs' 8 kHz mu-law NIST SPHERE is read by libsndfile (soundfile), and
    # by lhotse with its libsndfile backend (lhotse's default sends .sph to sph2pipe).
    from lhotse import Recording
    from lhotse.audio.backend import audio_backend

    path = tmp_path / "a.sph"
    audio = tone(1.0, 8000, 440.0)
    sf.write(str(path), audio, 8000, format="NIST", subtype="ULAW")
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.samplerate) == ("NIST", "ULAW", 8000)
    header = sphere_header(path)
    assert header["sample_coding"] == "ulaw" and not is_shorten(header)
    with audio_backend("LibsndfileBackend"):
        rec = Recording.from_file(path)
        assert (rec.sampling_rate, rec.num_samples) == (8000, 8000)
        part = rec.to_cut().truncate(offset=0.25, duration=0.5).load_audio()
    assert part.shape == (1, 4000)
    assert np.abs(part[0] - audio[2000:6000]).max() < 0.02  # mu-law error at amplitude 0.3
    make_shorten(path)
    assert is_shorten(sphere_header(path))
    (tmp_path / "x.txt").write_text("not sphere")
    assert sphere_header(tmp_path / "x.txt") == {}


SPHERE_SCRIPT = """
import sys
import soundfile as sf
from xlsr.testing.corpus import tone
path = sys.argv[1]
sf.write(path, tone(1.0, 8000, 440.0), 8000, format="NIST", subtype="ULAW")
from lhotse import Recording
import xlsr.data.audio  # the toolkit's data modules: .sph through libsndfile
rec = Recording.from_file(path)
print(rec.sampling_rate, rec.to_cut().load_audio().shape)
"""


def test_the_toolkit_reads_sphere_without_sph2pipe_or_an_environment_variable(tmp_path):
    # Invariant: once xlsr.data.audio is imported (the data loader, stage-1 scans, decoding),
    # lhotse reads .sph through libsndfile when sph2pipe is not installed: hand-run tools
    # on BABEL manifests need no LHOTSE_AUDIO_BACKEND.
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("sph2pipe"):
        pytest.skip("sph2pipe is installed: lhotse uses it")
    env = {k: v for k, v in os.environ.items() if k != "LHOTSE_AUDIO_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", SPHERE_SCRIPT, str(tmp_path / "a.sph")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["8000", "(1,", "8000)"]
