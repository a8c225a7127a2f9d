"""xlsr.utils.config: layered --config YAML files (a recipe's conf, then an overlay)."""

import pytest

from xlsr.utils.config import load_layered_yaml


def test_a_later_file_overrides_keys_within_sections(tmp_path):
    # Invariant: keys of a later file replace the earlier values of the same section, every
    # other key of that section stays, and new sections are added; no file: empty.
    base = tmp_path / "train.yaml"
    base.write_text("train:\n  lr: 3.0e-5\n  update_freq: 5\ndata:\n  max_duration: 80.0\n")
    over = tmp_path / "xlsr_2b.yaml"
    over.write_text("train:\n  distributed: fsdp\n  update_freq: 1\nencoder:\n  layerdrop: 0.1\n")
    assert load_layered_yaml([base, over]) == {
        "train": {"lr": 3.0e-5, "update_freq": 1, "distributed": "fsdp"},
        "data": {"max_duration": 80.0},
        "encoder": {"layerdrop": 0.1},
    }
    assert load_layered_yaml([over, base])["train"]["update_freq"] == 5
    assert load_layered_yaml([]) == {}


def test_a_section_of_another_kind_names_the_file(tmp_path):
    base = tmp_path / "a.yaml"
    base.write_text("train:\n  lr: 1.0\n")
    bad = tmp_path / "b.yaml"
    bad.write_text("train: 3\n")
    with pytest.raises(ValueError, match=r"b.yaml: section 'train' is int, but dict"):
        load_layered_yaml([base, bad])
