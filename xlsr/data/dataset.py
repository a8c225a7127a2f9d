"""lhotse ``CutSet`` -> batches of raw 16 kHz audio for the XLS-R encoder (no fbank).

The pieces, in the order a recipe uses them:

    cuts, dropped = filter_cuts(cuts, cfg, encode=tokenizer.encode)   # durations, CTC
    loader, sampler = make_dataloader(cuts, cfg, train=True, target_fn=TokenTargets(encode))
    for epoch in range(start_epoch, num_epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            if batch["lengths"].numel() == 0:   # every cut of the batch was skipped
                continue
            hidden, frames = encoder(batch["waveforms"], batch["lengths"])
            ...
            checkpoint["sampler"] = sampler.state_dict()   # resumes after this batch

Bad input never crashes a run and is never lost silently: a cut whose audio does not decode
(``unreadable_audio``), decodes shorter or longer than its manifest says by more than
``duration_tolerance`` (``duration_mismatch``: a truncated file), is shorter than the encoder's
receptive field (``too_short_audio``), has no supervision, an empty transcript (when text is
required) or a target that cannot be built is skipped with a warning naming the cut and the
reason, and counted in ``dataset.skipped``. ``validate_cuts`` checks a whole manifest up front.

Augmentation (training only), deterministic given ``DataConfig.seed``, the epoch and the cut
id, whichever worker loads the cut: speed perturbation (lhotse ``perturb_speed``, pitch
changes with speed, as in Kaldi) and additive noise (e.g. MUSAN) at a random SNR; and, for
classification, random crops of long cuts (``max_sample_size``) before the sampler.

This module is the data module's front door: it re-exports the names above from the
modules that define them, one concern each (arrows: what imports what, all within
``xlsr.data``; nothing here imports ``xlsr.models`` or anything above it):

    config.py         DataConfig                          (imports nothing of xlsr)
    frames.py         ConvLayer, DEFAULT_CONV_LAYERS, conv_output_lengths, conv_frames_fn
                      (the conv feature encoder's samples -> frames; xlsr.models uses it)
    cuts.py           cut_text, source_of, first_sup, translation   (manifest fields)
    audio.py          resample_waveform (the one resampler), mono, load_error_reason,
                      describe_error, mismatch_tolerance (lhotse's duration tolerance)
    noise.py          add_noise, NoiseMixer                              -> audio
    audio_dataset.py  AudioDataset, collate_items, SkipCounter, TokenTargets
                                                      -> config, cuts, audio, noise
    sampling.py       make_sampler, CheckpointableSampler                -> config
    crop.py           RandomCrop (training crops, DataConfig.max_sample_size)
    loader.py         AudioDataLoader, make_dataloader
                                                -> audio_dataset, sampling, crop, config
    filters.py        filter_cuts, ctc_min_frames, cut_frames, validate_cuts
                                                      -> config, cuts, audio, frames
"""

from __future__ import annotations

from xlsr.data.audio import resample_waveform
from xlsr.data.audio_dataset import AudioDataset, SkipCounter, TokenTargets
from xlsr.data.config import DataConfig
from xlsr.data.cuts import cut_text, source_of
from xlsr.data.filters import ctc_min_frames, cut_frames, filter_cuts, validate_cuts
from xlsr.data.frames import conv_frames_fn
from xlsr.data.loader import AudioDataLoader, make_dataloader
from xlsr.data.noise import NoiseMixer
from xlsr.data.sampling import make_sampler

__all__ = [
    "AudioDataLoader",
    "AudioDataset",
    "DataConfig",
    "NoiseMixer",
    "SkipCounter",
    "TokenTargets",
    "conv_frames_fn",
    "ctc_min_frames",
    "cut_frames",
    "cut_text",
    "filter_cuts",
    "make_dataloader",
    "make_sampler",
    "resample_waveform",
    "source_of",
    "validate_cuts",
]
