"""utils/lib.sh: stage markers that record their inputs, logs per run, option checks."""

import subprocess

import pytest

from xlsr.testing.recipe import ROOT


def bash(script: str, cwd, expect_rc: int = 0) -> str:
    """Runs ``script`` with utils/lib.sh sourced, under set -euo pipefail."""
    full = f"set -euo pipefail\n. {ROOT}/utils/lib.sh\n{script}"
    proc = subprocess.run(["bash", "-c", full], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == expect_rc, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_fingerprint_follows_options_and_file_contents(tmp_path):
    # Invariant: the fingerprint changes when an option or an input file's bytes change,
    # and only then; a directory stands for every file below it; a missing file is named.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    fp = "stage_fingerprint x=1 'y=two words' -- a.txt d missing.txt"
    first = bash(fp, tmp_path)
    assert first.splitlines() == [
        "option x=1",
        "option y=two words",
        "file a.txt 0cc175b9c0f1b6a831c399e269772661",
        "file d/b.txt 92eb5ffee6ae2fec3ad71c777531578f",
        "file missing.txt missing",
    ]
    assert bash(fp, tmp_path) == first
    (tmp_path / "d" / "b.txt").write_text("B")
    assert bash(fp, tmp_path) != first
    assert bash(fp.replace("x=1", "x=2"), tmp_path) != bash(fp, tmp_path)


def test_marker_is_done_only_for_the_same_inputs(tmp_path):
    # Invariant: stage_is_done needs the marker AND the same fingerprint; stage_changes says
    # what changed; require_done stops the script naming the marker.
    (tmp_path / "in.txt").write_text("1")
    out = bash(
        """
        fp=$(stage_fingerprint k=a -- in.txt)
        stage_is_done m/.done "$fp" && echo "done before marking"
        mark_done m/.done "$fp"
        stage_is_done m/.done "$fp" && echo "done after marking"
        echo 2 > in.txt
        fp2=$(stage_fingerprint k=b -- in.txt)
        stage_is_done m/.done "$fp2" || echo "not done: $(stage_changes m/.done "$fp2")"
        """,
        tmp_path,
    )
    assert "done before marking" not in out and "done after marking" in out
    assert "not done: inputs changed" in out and "was [option k=a;file in.txt" in out
    assert "now [option k=b;file in.txt" in out
    err = bash(
        'require_done m/.done "$(stage_fingerprint k=c)" "lang dir: run stage 2"', tmp_path, 1
    )
    assert "ERROR: lang dir: run stage 2: inputs changed since m/.done" in err
    err = bash('require_done none/.done x "manifests: run stage 1"', tmp_path, 1)
    assert "no marker none/.done" in err


def test_failed_stage_leaves_no_marker(tmp_path):
    # Invariant: with set -o pipefail a failing command piped into tee fails the stage before
    # the marker is written.
    bash("false 2>&1 | tee -a x.log\nmark_done m/.done fp", tmp_path, expect_rc=1)
    assert not (tmp_path / "m" / ".done").exists()


def test_stage_log_is_new_per_run_and_links_the_newest(tmp_path):
    # Invariant: a run never writes into an earlier run's log; stage0.log is the newest; a
    # stage0.log written before logs were kept per run is kept under another name.
    (tmp_path / "exp" / "log").mkdir(parents=True)
    (tmp_path / "exp" / "log" / "stage0.log").write_text("old synthesis log\n")
    first = bash('f=$(stage_log 0); echo first > "$f"; echo "$f"', tmp_path).split()[-1]
    second = bash('f=$(stage_log 0); echo second > "$f"; echo "$f"', tmp_path).split()[-1]
    assert first != second and first.startswith("exp/log/stage0-")
    logs = {p.name: p.read_text() for p in (tmp_path / "exp" / "log").glob("stage0-*.log")}
    assert sorted(logs.values()) == ["first\n", "old synthesis log\n", "second\n"]
    assert (tmp_path / "exp" / "log" / "stage0.log").read_text() == "second\n"


def test_move_aside_never_overwrites(tmp_path):
    (tmp_path / "exp" / "ctc").mkdir(parents=True)
    first = bash("move_aside exp/ctc", tmp_path).strip()
    (tmp_path / "exp" / "ctc").mkdir()
    second = bash("move_aside exp/ctc", tmp_path).strip()
    assert first.startswith("exp/ctc.stale-") and first != second
    assert (tmp_path / first).is_dir() and (tmp_path / second).is_dir()


@pytest.mark.parametrize(
    "values,rc,message",
    [
        ("stage=0 stop_stage=5", 0, ""),
        ("stage=2 stop_stage=2", 0, ""),
        ("stage=6 stop_stage=6", 1, "--stage 6: the last stage is 5"),
        ("stage=x stop_stage=5", 1, "--stage must be a non-negative integer, got 'x'"),
        ("stage=0 stop_stage=-1", 1, "--stop-stage must be a non-negative integer"),
        ("stage=4 stop_stage=3", 1, "--stage 4 is after --stop-stage 3"),
    ],
)
def test_check_stages(tmp_path, values, rc, message):
    assert message in bash(f"{values}\ncheck_stages 5", tmp_path, rc)


def test_check_stages_rejects_positional_arguments(tmp_path):
    out = bash("stage=0 stop_stage=1\ncheck_stages 5 extra words", tmp_path, 1)
    assert "unexpected argument(s): extra words" in out
