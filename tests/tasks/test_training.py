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


def test_global_batch_gives_the_papers_batch_on_any_world_size():
    # Invariant: with train.global_batch_duration G, update_freq x world x the per-process
    # batch is G exactly, no batch exceeds data.max_duration, and update_freq is the fewest
    # that allow it; without it the configs pass unchanged.
    from xlsr.data.dataset import DataConfig
    from xlsr.tasks.training import apply_global_batch
    from xlsr.train.trainer import TrainConfig, resolve_global_batch

    for g, cap in ((1600.0, 80.0), (3840.0, 160.0), (8.0, 2.5)):
        for world in (1, 2, 4, 8, 16, 24):
            uf, batch = resolve_global_batch(g, cap, world)
            assert uf * world * batch == pytest.approx(g) and batch <= cap + 1e-9
            assert uf == 1 or g / ((uf - 1) * world) > cap  # one fewer would overflow
    assert resolve_global_batch(1600.0, 80.0, 8) == (3, pytest.approx(66.667, abs=1e-3))
    assert resolve_global_batch(3840.0, 160.0, 16) == (2, 120.0)
    data = DataConfig(max_duration=80.0, max_cut_duration=35.0)
    off = TrainConfig()
    assert apply_global_batch(off, data, 8) == (off, data)
    train, data8 = apply_global_batch(TrainConfig(global_batch_duration=1600.0), data, 8)
    assert (train.update_freq, data8.max_duration) == (3, pytest.approx(66.667, abs=1e-3))
    with pytest.raises(
        SystemExit, match="batches of 16.7 s, shorter than data.max_cut_duration 35"
    ):
        apply_global_batch(TrainConfig(global_batch_duration=400.0), data, 24)
