"""The embedded multilingual spoken-numbers corpus (``numbers``).

Synthesised with espeak-ng (``espeakng-loader``) from number words written by ``num2words``:
10 languages by default, several speakers per language (espeak voice variant, rate and
pitch), 16 kHz FLAC. Each utterance says min..max numbers (by default one or two: cardinals
0-9999, some years and ordinals) and carries its transcript (normalised words), its English
translation (and, for English utterances, the translation into every corpus language, for
En -> X), its language and its speaker.

Splits: train / dev / test by speaker (dev and test speakers never occur in train), and a
held-out share of the numbers never occurs in train but makes up part of dev and test.
Everything is a function of the config and its seed.

Two steps, as lhotse recipes have them:
    synthesize_numbers(corpus_dir)              # "download": audio + metadata.jsonl + lm_text
    prepare_numbers(corpus_dir, output_dir)     # lhotse manifests + Kaldi-style data dirs
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from xlsr.utils.io import atomic_write_text

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]

#: code -> (espeak-ng voice, num2words language, num2words supports ordinals)
LANGUAGES: Dict[str, Tuple[str, str, bool]] = {
    "en": ("en", "en", True), "de": ("de", "de", True), "fr": ("fr", "fr", True),
    "es": ("es", "es", True), "it": ("it", "it", True), "pl": ("pl", "pl", True),
    "ru": ("ru", "ru", True), "nl": ("nl", "nl", True), "pt": ("pt", "pt", True),
    "cs": ("cs", "cs", False),
}  # fmt: skip
#: espeak-ng voice variants; with a rate and a pitch each makes one speaker.
VARIANTS = ["m1", "f1", "m3", "f2", "m2", "f3", "m4", "f4", "m5", "f5", "m6", "m7"]
SAMPLE_RATE = 16000
SPLITS = ("train", "dev", "test")
#: NumbersConfig fields added after corpora were made -> the default that made them.
_LATER_FIELDS = {"min_numbers_per_utterance": 1, "eval_speakers_per_language": 1}


@dataclass
class NumbersConfig:
    """What :func:`synthesize_numbers` makes; the same config gives the same corpus."""

    languages: List[str] = field(default_factory=lambda: list(LANGUAGES))
    num_utterances: int = 3000  # in all, split 80/10/10 and evenly over the languages
    speakers_per_language: int = 8  # the last 2 * eval_speakers_per_language are dev / test
    # Dev and test speakers per language each (speaker verification wants several, so that
    # non-target trials also pair speakers of one language).
    eval_speakers_per_language: int = 1
    max_number: int = 9999  # cardinals are drawn from 0..max_number
    heldout_fraction: float = 0.2  # share of numbers never used in train
    eval_unseen_share: float = 0.5  # share of dev/test utterances drawn from held-out numbers
    # Numbers spoken per utterance, drawn uniformly from min..max (the LID / SID recipes
    # use more, e.g. 1..6, for utterances of about 0.5-19 s; 1..2 is the ASR corpus).
    min_numbers_per_utterance: int = 1
    max_numbers_per_utterance: int = 2
    year_share: float = 0.1  # share of items read as years (1900-2030)
    ordinal_share: float = 0.1  # share of items read as ordinals (1-100)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.languages) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unsupported languages {unknown}; choose from {sorted(LANGUAGES)}")
        if self.eval_speakers_per_language < 1:
            raise ValueError(
                f"eval_speakers_per_language must be >= 1, got {self.eval_speakers_per_language}"
            )
        if self.speakers_per_language < 2 * self.eval_speakers_per_language + 1:
            raise ValueError(
                "speakers_per_language must be >= 2 * eval_speakers_per_language + 1 (train, "
                f"dev and test speakers), got {self.speakers_per_language}, "
                f"{self.eval_speakers_per_language}"
            )
        if self.num_utterances < 10 * len(self.languages):
            raise ValueError(f"num_utterances must be >= {10 * len(self.languages)}")
        if not 1 <= self.min_numbers_per_utterance <= self.max_numbers_per_utterance:
            raise ValueError(
                "need 1 <= min_numbers_per_utterance <= max_numbers_per_utterance, got "
                f"{self.min_numbers_per_utterance}, {self.max_numbers_per_utterance}"
            )

    def fingerprint(self) -> str:
        """Hash of the config. Fields added later are left out at their default, so a corpus
        made before they existed keeps its fingerprint (and is not synthesised again)."""
        fields = dataclasses.asdict(self)
        for name, default in _LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def normalize_text(text: str) -> str:
    """Lower case, hyphens and punctuation to spaces, single spaces: the transcript form."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def spell(number: int, lang: str, kind: str) -> str:
    """num2words text of ``number`` as a cardinal, ordinal or year in corpus language ``lang``."""
    from num2words import num2words

    _, n2w, has_ordinal = LANGUAGES[lang]
    if kind == "ordinal" and not has_ordinal:
        kind = "cardinal"
    try:
        return num2words(number, lang=n2w, to=kind)
    except NotImplementedError:
        return num2words(number, lang=n2w)


@dataclass
class Speaker:
    id: str
    lang: str
    split: str
    voice: str  # espeak-ng voice+variant
    rate: int  # words per minute
    pitch: int


def make_speakers(cfg: NumbersConfig, lang: str) -> List[Speaker]:
    """The speakers of ``lang``: train first, then the dev and the test speakers (disjoint
    voice variants while there are at most 12 speakers)."""
    rng = np.random.default_rng([cfg.seed, 1, sorted(LANGUAGES).index(lang)])
    speakers = []
    n, k = cfg.speakers_per_language, cfg.eval_speakers_per_language
    for i in range(n):
        split = "train" if i < n - 2 * k else ("dev" if i < n - k else "test")
        variant = VARIANTS[i % len(VARIANTS)]
        rate, pitch = int(rng.integers(140, 201)), int(rng.integers(30, 71))
        speakers.append(
            Speaker(
                f"{lang}-{variant}-r{rate}-p{pitch}",
                lang,
                split,
                f"{LANGUAGES[lang][0]}+{variant}",
                rate,
                pitch,
            )
        )
    return speakers


def heldout_numbers(cfg: NumbersConfig) -> np.ndarray:
    """Boolean (max_number + 1,): numbers that never occur in train."""
    rng = np.random.default_rng([cfg.seed, 2])
    held = np.zeros(cfg.max_number + 1, dtype=bool)
    order = rng.permutation(cfg.max_number + 1)
    held[order[: int(cfg.heldout_fraction * (cfg.max_number + 1))]] = True
    return held


def draw_items(
    rng: np.random.Generator, cfg: NumbersConfig, held: np.ndarray, split: str
) -> List[Tuple[int, str]]:
    """(number, kind) items of one utterance. Train never sees held-out numbers."""
    count = int(rng.integers(cfg.min_numbers_per_utterance, cfg.max_numbers_per_utterance + 1))
    unseen = split != "train" and rng.random() < cfg.eval_unseen_share
    pool = np.flatnonzero(held if unseen else ~held)
    items = []
    for _ in range(count):
        u = rng.random()
        if u < cfg.year_share:
            items.append((int(rng.integers(1900, 2031)), "year"))
        elif u < cfg.year_share + cfg.ordinal_share:
            items.append((int(rng.integers(1, 101)), "ordinal"))
        else:
            items.append((int(rng.choice(pool)), "cardinal"))
    return items


def plan_utterances(cfg: NumbersConfig) -> List[dict]:
    """The corpus as metadata (no audio): ids, splits, speakers, texts, translations."""
    held = heldout_numbers(cfg)
    shares = {"train": 0.8, "dev": 0.1, "test": 0.1}
    per_lang = cfg.num_utterances // len(cfg.languages)
    plan = []
    for lang in cfg.languages:
        speakers = make_speakers(cfg, lang)
        rng = np.random.default_rng([cfg.seed, 3, sorted(LANGUAGES).index(lang)])
        for split in SPLITS:
            pool = [s for s in speakers if s.split == split]
            for i in range(max(1, round(per_lang * shares[split]))):
                spk = pool[int(rng.integers(len(pool)))]
                items = draw_items(rng, cfg, held, split)
                spoken = ", ".join(spell(n, lang, k) for n, k in items)
                utt = {
                    "id": f"numbers-{lang}-{split}-{i:05d}",
                    "split": split,
                    "lang": lang,
                    "speaker": spk.id,
                    "voice": spk.voice,
                    "rate": spk.rate,
                    "pitch": spk.pitch,
                    "items": items,
                    "spoken": spoken,
                    "text": normalize_text(spoken),
                    "translation": normalize_text(" ".join(spell(n, "en", k) for n, k in items)),
                }
                if lang == "en":  # En -> X pairs
                    utt["translations"] = {
                        x: normalize_text(" ".join(spell(n, x, k) for n, k in items))
                        for x in cfg.languages
                    }
                plan.append(utt)
    return plan


def lm_sentences(cfg: NumbersConfig, lang: str) -> Iterable[str]:
    """Text for the language model: every number of the domain spelled out (the corpus'
    "external text", as a real LM corpus is larger than the acoustic transcripts)."""
    for n in range(cfg.max_number + 1):
        yield normalize_text(spell(n, lang, "cardinal"))
    for n in range(1900, 2031):
        yield normalize_text(spell(n, lang, "year"))
    for n in range(1, 101):
        yield normalize_text(spell(n, lang, "ordinal"))


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    import torch

    from xlsr.data.audio import resample_waveform  # the toolkit's one resampler

    x = torch.from_numpy(samples.astype(np.float32) / 32768.0)[None]
    y = resample_waveform(x, rate, SAMPLE_RATE)[0].clamp(-1.0, 1.0)
    return (y * 32767.0).round().to(torch.int16).numpy()


def _synthesize_language(job: Tuple[str, List[dict]]) -> List[dict]:
    """Worker: synthesises one language's utterances in a fresh process.

    espeak-ng keeps state between utterances (echo buffers, flutter phase) that no API call
    resets, so the same utterance sounds slightly different after different predecessors.
    A fresh process per language, going through its utterances in order, makes every
    utterance a function of the config alone.
    """
    import soundfile as sf
    import torch

    from xlsr.data.espeak import Espeak

    torch.set_num_threads(1)  # one worker per core
    corpus_dir, utts = job
    tts = Espeak.get()
    for utt in utts:
        seed = int(hashlib.sha256(utt["id"].encode()).hexdigest()[:8], 16)
        raw = tts.synthesize(utt["spoken"], utt["voice"], utt["rate"], utt["pitch"], seed)
        audio = _to_16k(raw, tts.sample_rate)
        rel = Path("audio") / utt["lang"] / f"{utt['id']}.flac"
        (Path(corpus_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(Path(corpus_dir) / rel), audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        utt.update(
            audio=str(rel),
            num_samples=int(audio.shape[0]),
            duration=round(audio.shape[0] / SAMPLE_RATE, 4),
        )
    return utts


def synthesize_numbers(
    corpus_dir: Pathlike,
    cfg: Optional[NumbersConfig] = None,
    num_jobs: int = 2,
    progress: bool = True,
) -> Path:
    """Synthesises the corpus into ``corpus_dir`` (audio/, metadata.jsonl, lm_text/).

    One worker process per language (``num_jobs`` at a time). Skips the work when
    ``corpus_dir`` already holds a complete corpus of the same config.
    Returns the path of ``metadata.jsonl``.
    """
    import multiprocessing

    from tqdm import tqdm

    cfg = cfg or NumbersConfig()
    corpus_dir = Path(corpus_dir)
    meta_path, done = corpus_dir / "metadata.jsonl", corpus_dir / ".complete"
    if done.exists() and done.read_text().strip() == cfg.fingerprint() and meta_path.exists():
        logger.info("%s: corpus already complete, skipping synthesis", corpus_dir)
        return meta_path
    plan = plan_utterances(cfg)
    logger.info("synthesising %d utterances in %d languages", len(plan), len(cfg.languages))
    jobs = [(str(corpus_dir), [u for u in plan if u["lang"] == lang]) for lang in cfg.languages]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, num_jobs), maxtasksperchild=1) as pool:
        done_utts = {}
        results = pool.imap_unordered(_synthesize_language, jobs)
        for utts in tqdm(
            results, total=len(jobs), desc="synthesise (languages)", disable=not progress
        ):
            done_utts.update({u["id"]: u for u in utts})
    plan = [done_utts[u["id"]] for u in plan]
    (corpus_dir / "lm_text").mkdir(parents=True, exist_ok=True)
    for lang in cfg.languages:
        lines = "\n".join(lm_sentences(cfg, lang)) + "\n"
        (corpus_dir / "lm_text" / f"{lang}.txt").write_text(lines, encoding="utf-8")
    atomic_write_text(meta_path, "".join(json.dumps(u, ensure_ascii=False) + "\n" for u in plan))
    (corpus_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    done.write_text(cfg.fingerprint() + "\n")
    return meta_path


def read_metadata(corpus_dir: Pathlike) -> List[dict]:
    path = Path(corpus_dir) / "metadata.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no corpus metadata (run synthesize_numbers first)")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def prepare_numbers(
    corpus_dir: Pathlike, output_dir: Pathlike, splits: Sequence[str] = SPLITS
) -> Dict[str, Dict[str, object]]:
    """lhotse manifests and Kaldi-style data dirs for a synthesised corpus.

    Writes ``numbers_recordings_<split>.jsonl.gz`` and ``numbers_supervisions_<split>.jsonl.gz``
    (supervisions carry ``language``, ``speaker`` and ``custom['translation']``, plus
    ``custom['translations']`` for English) and ``kaldi/<split>/{wav.scp,text,utt2spk,
    spk2utt,utt2lang,utt2dur}``.

    Returns:
        {split: {"recordings": RecordingSet, "supervisions": SupervisionSet}}
    """
    from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus_dir, output_dir = Path(corpus_dir).resolve(), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = read_metadata(corpus_dir)
    out: Dict[str, Dict[str, object]] = {}
    for split in splits:
        utts = [u for u in meta if u["split"] == split]
        recs, sups = [], []
        for u in utts:
            path = corpus_dir / u["audio"]
            if not path.exists():
                raise FileNotFoundError(f"{path}: audio of {u['id']} is missing")
            recs.append(
                Recording(
                    id=u["id"],
                    sources=[AudioSource(type="file", channels=[0], source=str(path))],
                    sampling_rate=SAMPLE_RATE,
                    num_samples=u["num_samples"],
                    duration=u["num_samples"] / SAMPLE_RATE,
                )
            )
            custom = {"translation": u["translation"]}
            if "translations" in u:
                custom["translations"] = u["translations"]
            sups.append(
                SupervisionSegment(
                    id=u["id"],
                    recording_id=u["id"],
                    start=0.0,
                    duration=u["num_samples"] / SAMPLE_RATE,
                    channel=0,
                    text=u["text"],
                    language=u["lang"],
                    speaker=u["speaker"],
                    custom=custom,
                )
            )
        recordings = RecordingSet.from_recordings(recs)
        supervisions = SupervisionSet.from_segments(sups)
        recordings.to_file(output_dir / f"numbers_recordings_{split}.jsonl.gz")
        supervisions.to_file(output_dir / f"numbers_supervisions_{split}.jsonl.gz")
        write_kaldi_dir(output_dir / "kaldi" / split, utts, corpus_dir)
        out[split] = {"recordings": recordings, "supervisions": supervisions}
        logger.info(
            "%s: %d utterances, %.1f h", split, len(utts), sum(u["duration"] for u in utts) / 3600
        )
    return out


def write_kaldi_dir(data_dir: Path, utts: List[dict], corpus_dir: Path) -> None:
    """Kaldi-style data dir, sorted by utterance id."""
    data_dir.mkdir(parents=True, exist_ok=True)
    utts = sorted(utts, key=lambda u: u["id"])
    names = ("wav.scp", "text", "utt2spk", "utt2lang", "utt2dur")
    files: Dict[str, List[str]] = {n: [] for n in names}
    spk2utt: Dict[str, List[str]] = {}
    for u in utts:
        files["wav.scp"].append(f"{u['id']} {corpus_dir / u['audio']}")
        files["text"].append(f"{u['id']} {u['text']}")
        files["utt2spk"].append(f"{u['id']} {u['speaker']}")
        files["utt2lang"].append(f"{u['id']} {u['lang']}")
        files["utt2dur"].append(f"{u['id']} {u['duration']}")
        spk2utt.setdefault(u["speaker"], []).append(u["id"])
    for name, lines in files.items():
        (data_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data_dir / "spk2utt").write_text(
        "".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())), encoding="utf-8"
    )
