"""Atomic writes (xlsr.utils.io): the target holds the old data or the new, never a part."""

import stat

import pytest
import torch

from xlsr.utils.io import atomic_output, atomic_torch_save, atomic_write_bytes, atomic_write_text


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_text_written_and_replaced_with_shared_permissions(tmp_path):
    # Invariant: the file gets exactly the text (UTF-8, \n line ends, created folders),
    # a second write replaces it, it is readable by others, and no temporary file is left.
    path = tmp_path / "a" / "b" / "score.json"
    atomic_write_text(path, "ä\nb\n")
    atomic_write_text(path, "é\r\n")
    assert path.read_bytes() == "é\r\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert leftovers(path.parent) == []


def test_an_error_while_writing_keeps_the_old_file(tmp_path):
    # Invariant: when the writer fails, the target keeps its old content, the temporary
    # file is removed and the error reaches the caller.
    path = tmp_path / "checkpoint-4.pt"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_output(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_temporary_file_is_hidden_from_checkpoint_globs(tmp_path):
    # Invariant: while a write is under way, globs such as checkpoint-*.pt do not see it.
    with atomic_output(tmp_path / "checkpoint-8.pt") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".checkpoint-8.pt.")
        assert list(tmp_path.glob("checkpoint-*.pt")) == []
        tmp.write_bytes(b"x")
    assert [p.name for p in tmp_path.glob("checkpoint-*.pt")] == ["checkpoint-8.pt"]


def test_torch_save_round_trip(tmp_path):
    state = {"w": torch.arange(4.0), "step": 3}
    atomic_torch_save(state, tmp_path / "x.pt")
    loaded = torch.load(tmp_path / "x.pt")
    assert loaded["step"] == 3 and torch.equal(loaded["w"], state["w"])
