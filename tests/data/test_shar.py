"""xlsr.data.shar and python -m xlsr.bin.pack_shar: cuts and their audio packed into Shar
shards read back the same (segments of long recordings too), and xlsr.bin.train trains on
a Shar directory as on its manifest."""

import numpy as np
import pytest
from lhotse import CutSet
from lhotse.utils import fastcopy

from xlsr.bin import pack_shar as pack_bin
from xlsr.bin import train as train_bin
from xlsr.data.shar import is_shar_dir, open_cuts, pack_shar
from xlsr.data.text_norm import TextNormalizer
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import tiny_train_args
from xlsr.train.checkpoint import load_checkpoint


@pytest.fixture
def cuts(tmp_path):
    whole = make_tiny_cutset(tmp_path / "audio", n=5, durations=[1.0, 1.5, 2.0, 1.0, 1.5])
    # a segment of a longer recording (BABEL-style: one recording, many segment cuts)
    segment = fastcopy(whole[2].truncate(offset=0.5, duration=1.0), id="utt-0002-seg")
    cuts = CutSet.from_cuts([*whole, segment])
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    return cuts


def test_shards_read_back_every_cut_and_sample(tmp_path, cuts):
    # Invariant: every cut comes back once with its supervision, and the 16-bit wav audio
    # (a segment's too) reads the same samples from the shards as from its file.
    assert pack_shar(tmp_path / "cuts.jsonl.gz", tmp_path / "shar", shard_size=4) == 2
    assert is_shar_dir(tmp_path / "shar") and not is_shar_dir(tmp_path)
    (tmp_path / "shar" / "notes.txt").write_text("not a shard")  # other files are ignored
    back = {c.id: c for c in open_cuts(tmp_path / "shar")}
    assert sorted(back) == sorted(cuts.ids)
    for cut in cuts:
        got = back[cut.id]
        assert got.supervisions[0].text == cut.supervisions[0].text
        assert got.duration == pytest.approx(cut.duration)
        np.testing.assert_allclose(got.load_audio(), cut.load_audio(), atol=1e-4)
    assert open_cuts(tmp_path / "cuts.jsonl.gz").is_lazy
    with pytest.raises(FileNotFoundError, match="without Shar shards"):
        open_cuts(tmp_path / "audio")
    with pytest.raises(SystemExit, match="already holds Shar shards"):
        pack_bin.main([str(tmp_path / "cuts.jsonl.gz"), str(tmp_path / "shar")])


def test_training_on_shards(tmp_path, cuts):
    # Invariant: --train-cuts takes a Shar directory; training runs its updates on it, and
    # a directory without shards is refused up front, naming what to pass.
    assert pack_bin.main([str(tmp_path / "cuts.jsonl.gz"), str(tmp_path / "shar")]) == 0
    texts = {"en": [c.supervisions[0].text for c in cuts]}
    lang = tmp_path / "lang"
    train_tokenizer(texts, lang / "tokenizer", TokenizerConfig(model_type="char"))
    TextNormalizer().save(lang)
    args = tiny_train_args(lang, tmp_path / "shar", tmp_path / "exp")
    common = ["--task", "asr_ctc", "--max-update", "2", "--ctc-loss", "torch"]
    assert train_bin.main([*common, *args]) == 0
    state = load_checkpoint(tmp_path / "exp" / "checkpoint-2.pt")
    assert state["trainer"]["update"] == 2
    bad = tiny_train_args(lang, tmp_path / "audio", tmp_path / "exp2")
    with pytest.raises(SystemExit):
        train_bin.main([*common, *bad])
