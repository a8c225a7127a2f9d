"""The README's main job (for now): the encoder demo round-trips all three formats."""

from xlsr.bin import demo


def test_demo_writes_and_reloads_every_format(tmp_path):
    assert demo.main(["--out-dir", str(tmp_path), "--seconds", "1"]) == 0
    assert (tmp_path / "encoder.pt").exists()
    assert (tmp_path / "fairseq" / "checkpoint.pt").exists()
    assert (tmp_path / "hf" / "config.json").exists()
    log = (tmp_path / "log" / "demo.log").read_text()
    assert "all formats agree" in log
