"""The resume check of xlsr.bin.train (:func:`xlsr.tasks.training.check_resumable`) on
config.yaml files written before an architecture field existed."""

import pytest

from xlsr.models import preset
from xlsr.tasks import get_task
from xlsr.tasks.training import check_resumable
from xlsr.utils import config as C


def _run_config(task, **head) -> dict:
    """The parts of a run config that the resume check reads (xlsr_tiny encoder)."""
    return C.to_plain(
        {
            "task": task.name,
            "head": task.section,
            "encoder": preset("xlsr_tiny").to_dict(),
            task.section: task.config_cls(**head),
        }
    )


@pytest.fixture
def exp(tmp_path):
    (tmp_path / "checkpoint-1.pt").write_bytes(b"")  # the check only needs one to exist
    return tmp_path


def test_a_missing_key_reads_as_the_fields_default(exp):
    # Invariant: a key missing from a section of an old config.yaml (encoder or head) is the
    # dataclass default the old run used: equal to the new value it resumes, else it is
    # refused naming the default as the old value.
    task = get_task("lid")
    old = _run_config(task, num_classes=3)
    del old["encoder"]["extractor_mode"]  # default "layer_norm" = xlsr_tiny's
    del old["classifier"]["pooling"]  # default "mean"
    C.save_yaml(old, exp / "config.yaml")
    check_resumable(exp, _run_config(task, num_classes=3), task)
    with pytest.raises(SystemExit, match="classifier pooling: was 'mean', now 'attentive_stats'"):
        check_resumable(exp, _run_config(task, num_classes=3, pooling="attentive_stats"), task)
    del old["encoder"]["conv_pos_groups"]  # default 16, xlsr_tiny's 4
    C.save_yaml(old, exp / "config.yaml")
    with pytest.raises(SystemExit, match=r"encoder conv_pos_groups \(.*\): was 16, now 4"):
        check_resumable(exp, _run_config(task, num_classes=3), task)


def test_a_missing_section_is_still_refused(exp):
    # Invariant: only keys default; a config.yaml without the head section is another model.
    task = get_task("lid")
    old = _run_config(task, num_classes=3)
    del old["classifier"]
    C.save_yaml(old, exp / "config.yaml")
    with pytest.raises(SystemExit, match="classifier num_classes: was None, now 3"):
        check_resumable(exp, _run_config(task, num_classes=3), task)
