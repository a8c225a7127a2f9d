"""WER/CER scoring and the result files of contract 3 (hyps-, score-, errs-, summary)."""

import json
import random

import pytest

from xlsr.scoring import (
    WerStats,
    align,
    recount,
    score_utterances,
    utterance_stats,
    write_errs,
    write_results,
    write_summary,
)

CONTRACT_KEYS = {"wer", "words", "ins", "del", "sub"}


def random_items(seed: int, n: int = 60, langs=("en", "de", "ru")):
    """Random refs/hyps over a small vocabulary, so every error type occurs often."""
    rng = random.Random(seed)
    vocab = ["one", "two", "three", "drei", "vier", "один", "два", "*", "ß"]
    items = []
    for i in range(n):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 8))]
        hyp = [w if rng.random() < 0.6 else rng.choice(vocab) for w in ref]
        hyp = [w for w in hyp if rng.random() > 0.15]  # deletions
        for _ in range(rng.randint(0, 2)):  # insertions
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
        items.append(
            {
                "id": f"utt-{rng.randint(0, 10**6):07d}-{i}",
                "ref": " ".join(ref),
                "hyp": " ".join(hyp),
                "lang": langs[i % len(langs)],
                "duration": round(rng.uniform(0.5, 5.0), 2),
            }
        )
    return items


def test_hand_computed_substitution_and_insertion():
    # Invariant: "a b c d" -> "a x c d e" is 1 substitution + 1 insertion over 4 words = 50 %.
    stats = utterance_stats("a b c d", "a x c d e")
    assert stats == WerStats(words=4, ins=1, dels=0, subs=1)
    assert stats.errors == 2
    assert stats.wer == pytest.approx(50.0)
    assert align(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"]) == [
        ("a", "a"),
        ("b", "x"),
        ("c", "c"),
        ("d", "d"),
        ("*", "e"),
    ]


def test_empty_hyp_is_all_deletions():
    # Invariant: an empty hypothesis deletes every reference word (WER 100 %).
    stats = utterance_stats("a b c", "")
    assert stats == WerStats(words=3, ins=0, dels=3, subs=0)
    assert stats.wer == pytest.approx(100.0)
    assert align(["a", "b"], []) == [("a", "*"), ("b", "*")]


def test_empty_ref():
    # Invariant: with no reference words the rate is reported as 0.0 (undefined), but the
    # insertions are counted and raise the WER of any set the utterance belongs to.
    assert utterance_stats("", "") == WerStats()
    assert utterance_stats("", "").wer == 0.0
    only_ins = utterance_stats("  ", "a b")
    assert only_ins == WerStats(words=0, ins=2, dels=0, subs=0)
    assert only_ins.wer == 0.0 and only_ins.errors == 2
    score = score_utterances(
        [{"id": "1", "ref": "", "hyp": "a b"}, {"id": "2", "ref": "x y c d", "hyp": "x y c d"}]
    )
    assert (score["words"], score["ins"], score["wer"]) == (4, 2, pytest.approx(50.0))


def test_werstats_add_and_validation():
    # Invariant: stats add field by field; impossible counts are rejected at construction.
    total = WerStats(4, 1, 0, 1) + WerStats(3, 0, 3, 0)
    assert total == WerStats(words=7, ins=1, dels=3, subs=1)
    assert total.wer == pytest.approx(100.0 * 5 / 7)
    with pytest.raises(ValueError, match="exceeds words"):
        WerStats(words=1, dels=1, subs=1)
    with pytest.raises(ValueError, match="non-negative"):
        WerStats(words=-1)


def test_star_word_does_not_collide_with_the_gap_symbol():
    # Invariant: a literal "*" in the text is a word like any other, not a gap.
    assert utterance_stats("a * b", "a b") == WerStats(words=3, dels=1)
    assert utterance_stats("a b", "* a b") == WerStats(words=2, ins=1)
    with pytest.raises(ValueError, match="gap symbol"):
        align(["*"], ["a"])


def test_cer_ignores_whitespace():
    # Invariant: CER aligns characters with whitespace removed, so a moved word boundary
    # costs 100 % WER here but 0 % CER; one wrong letter in 5 is 20 % CER.
    assert utterance_stats("ab c", "a bc", cer=True) == WerStats(words=3)
    assert utterance_stats("ab c", "a bc").wer == pytest.approx(100.0)
    assert utterance_stats("abc de", "abd de", cer=True) == WerStats(words=5, subs=1)
    score = score_utterances([{"id": "u", "ref": "abc de", "hyp": "abd de"}], cer=True)
    assert set(score) >= CONTRACT_KEYS
    assert (score["cer"], score["chars"], score["char_sub"]) == (pytest.approx(20.0), 5, 1)
    assert (score["wer"], score["words"], score["sub"]) == (pytest.approx(50.0), 2, 1)


@pytest.mark.parametrize("cer", [False, True])
def test_per_language_breakdown_sums_to_overall(cer):
    # Invariant: per-language counts add up to the overall counts, and each group's rate is
    # its own errors over its own words.
    items = random_items(seed=1)
    score = score_utterances(items, cer=cer)
    per_lang = score["per_lang"]
    assert sorted(per_lang) == ["de", "en", "ru"]
    keys = ["words", "ins", "del", "sub", "errors", "num_utterances"]
    keys += ["chars", "char_ins", "char_del", "char_sub"] if cer else []
    for key in keys:
        assert sum(g[key] for g in per_lang.values()) == score[key], key
    for g in per_lang.values():
        assert g["wer"] == pytest.approx(100.0 * g["errors"] / g["words"])


def test_items_without_language():
    # Invariant: a monolingual set has an empty breakdown; items lacking the field in a
    # mixed set are grouped as "unknown"; by=None drops the breakdown.
    items = [{"id": "a", "ref": "x", "hyp": "y"}, {"id": "b", "ref": "x", "hyp": "x"}]
    assert score_utterances(items)["per_lang"] == {}
    assert "per_lang" not in score_utterances(items, by=None)
    items[0]["lang"] = "en"
    per_lang = score_utterances(items)["per_lang"]
    assert per_lang["en"]["sub"] == 1 and per_lang["unknown"]["errors"] == 0


def test_bad_items_are_rejected():
    # Invariant: missing fields, non-str text and duplicate ids raise ValueError naming them.
    with pytest.raises(ValueError, match="'hyp'"):
        score_utterances([{"id": "a", "ref": "x"}])
    with pytest.raises(ValueError, match="must be str"):
        score_utterances([{"id": "a", "ref": "x", "hyp": None}])
    with pytest.raises(ValueError, match="duplicate"):
        score_utterances([{"id": "a", "ref": "x", "hyp": "x"}] * 2)


@pytest.mark.parametrize("cer", [False, True])
def test_score_json_agrees_with_recount(tmp_path, cer):
    # Invariant: score-*.json (kaldialign.align counts) equals an independent recount of
    # hyps-*.jsonl (kaldialign.edit_distance), key for key, per language included.
    items = random_items(seed=7, n=200)
    score = write_results(tmp_path, "dev", items, cer=cer)
    on_disk = json.loads((tmp_path / "score-dev.json").read_text(encoding="utf-8"))
    assert on_disk == score
    assert set(on_disk) >= CONTRACT_KEYS
    assert on_disk["num_utterances"] == len(items)
    assert on_disk["ins"] > 0 and on_disk["del"] > 0 and on_disk["sub"] > 0
    assert recount(tmp_path / "hyps-dev.jsonl", cer=cer) == on_disk
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # renamed away


def test_hyps_file_sorted_with_optional_fields(tmp_path):
    # Invariant: one JSON object per utterance sorted by id, with the optional fields only
    # where the item has them, extra_fields copied, other item keys dropped.
    items = [
        {"id": "b", "ref": "x", "hyp": "x", "src_lang": "de", "tgt_lang": "en", "spk": "s1"},
        {"id": "a", "ref": "x", "hyp": "y", "lang": "en", "duration": 1.5, "junk": 3},
    ]
    write_results(tmp_path, "test", items, extra_fields=["spk"])
    lines = (tmp_path / "hyps-test.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert records == [
        {"id": "a", "ref": "x", "hyp": "y", "lang": "en", "duration": 1.5},
        {"id": "b", "ref": "x", "hyp": "x", "src_lang": "de", "tgt_lang": "en", "spk": "s1"},
    ]
    with pytest.raises(ValueError, match="test_set"):
        write_results(tmp_path, "../x", items)


def test_unicode_round_trips_in_jsonl(tmp_path):
    # Invariant: Cyrillic text is written as UTF-8 characters (ensure_ascii=False) and reads
    # back unchanged; CER counts letters, not bytes.
    items = [
        {"id": "ru-1", "ref": "сорок два", "hyp": "сорок три", "lang": "ru"},
        {"id": "ru-2", "ref": "ёжик", "hyp": "ежик", "lang": "ru"},
    ]
    score = write_results(tmp_path, "test_ru", items, cer=True)
    text = (tmp_path / "hyps-test_ru.jsonl").read_text(encoding="utf-8")
    assert "сорок два" in text and "\\u" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["ref"], r["hyp"]) for r in records] == [(i["ref"], i["hyp"]) for i in items]
    assert (score["sub"], score["words"]) == (2, 3)
    assert (score["char_sub"], score["chars"]) == (4, 12)  # "два"->"три" 3, "ё"->"е" 1
    errs = (tmp_path / "errs-test_ru.txt").read_text(encoding="utf-8").splitlines()
    assert errs[1] == "%CER 33.33 [ 4 / 12, 0 ins, 0 del, 4 sub ]"
    assert "ru-1:\tсорок (два->три)" in errs  # alignments over words
    write_errs(tmp_path / "errs-chars.txt", items, score, cer=True)
    errs = (tmp_path / "errs-chars.txt").read_text(encoding="utf-8").splitlines()
    assert "ru-2:\t(ё->е) ж и к" in errs  # alignments over characters


def test_errs_file_layout(tmp_path):
    # Invariant: the errs file starts with the %WER line of the score, shows each error in
    # its utterance line, and lists the most frequent substitution first.
    items = [
        {"id": "u2", "ref": "one two three", "hyp": "one too three four"},
        {"id": "u1", "ref": "two two", "hyp": "too"},
        {"id": "u3", "ref": "five six", "hyp": "fife six"},
    ]
    score = score_utterances(items)
    assert (score["words"], score["ins"], score["del"], score["sub"]) == (7, 1, 1, 3)
    path = tmp_path / "errs-test.txt"
    write_errs(path, items, score)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "%WER 71.43 [ 5 / 7, 1 ins, 1 del, 3 sub ]"
    utt_lines = [line for line in lines if line.startswith("u")]
    assert utt_lines == [
        "u1:\t(two->too) (two->*)",
        "u2:\tone (two->too) three (*->four)",
        "u3:\t(five->fife) six",
    ]

    def section(title):
        start = next(i for i, line in enumerate(lines) if line.startswith(title))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i]), len(lines))
        return lines[start + 1 : end]

    assert section("SUBSTITUTIONS")[0] == "2   two -> too"
    assert section("SUBSTITUTIONS")[1] == "1   five -> fife"
    assert section("DELETIONS") == ["1   two"]
    assert section("INSERTIONS") == ["1   four"]
    per_word = section("PER-WORD STATS")
    assert per_word[0] == "two   0 3 3 0"  # corr, errors, count in ref, count in hyp
    assert "too   0 2 0 2" in per_word and "one   1 0 1 1" in per_word


def test_summary_best_first(tmp_path):
    # Invariant: the summary lists methods by WER ascending and returns the best row.
    rows = [
        {"method": "hlg_lm_scale_0.3", "wer": 12.5},
        {"method": "ctc_greedy", "wer": 14.0},
        {"method": "hlg_lm_scale_0.6", "wer": 11.25},
    ]
    best = write_summary(tmp_path / "wer-summary-test.txt", rows)
    assert best is rows[2]
    lines = (tmp_path / "wer-summary-test.txt").read_text().splitlines()
    assert lines[1] == "method\tWER"
    assert lines[2:] == ["hlg_lm_scale_0.6\t11.25", "hlg_lm_scale_0.3\t12.50", "ctc_greedy\t14.00"]
    with pytest.raises(ValueError):
        write_summary(tmp_path / "x.txt", [])


@pytest.mark.parametrize("rule", ["deleted", "excluded"])
def test_skipped_utterances_accounted_for(tmp_path, rule):
    # Invariant (contract 6): every item keeps its hyps row (a skipped one with its reason);
    # "deleted" scores a skipped utterance as all its words deleted, "excluded" leaves it out;
    # the score file, the errs header and an independent recount all say so.
    items = [
        {"id": "a", "ref": "one two", "hyp": "one two", "lang": "en"},
        {"id": "b", "ref": "three four five", "hyp": "", "skipped": "unreadable_audio"},
        {"id": "c", "ref": "six", "hyp": "", "skipped": "too_short_audio"},
    ]
    score = write_results(tmp_path, "t", items, skipped_rule=rule, info={"model": {"hash": "x"}})
    assert score["utts"] == 3 and score["skipped_rule"] == rule and score["model"] == {"hash": "x"}
    assert score["skipped"] == {
        "count": 2,
        "reasons": {"too_short_audio": 1, "unreadable_audio": 1},
        "examples": ["b", "c"],
    }
    expected = (3, 6, 4) if rule == "deleted" else (1, 2, 0)  # utterances, words, deletions
    assert (score["num_utterances"], score["words"], score["del"]) == expected
    records = [json.loads(x) for x in (tmp_path / "hyps-t.jsonl").read_text().splitlines()]
    assert [r.get("skipped") for r in records] == [None, "unreadable_audio", "too_short_audio"]
    assert recount(tmp_path / "hyps-t.jsonl", skipped_rule=rule) == {
        k: v for k, v in score.items() if k != "model"
    }
    errs = (tmp_path / "errs-t.txt").read_text()
    reasons = "[ too_short_audio=1 unreadable_audio=1 ]"
    assert f"%SKIPPED 2 of 3 utterances {reasons}, scored as {rule}" in errs
    deleted_line = "b:\t(three->*) (four->*) (five->*)\t[skipped: unreadable_audio]"
    assert (deleted_line in errs) == (rule == "deleted")
    with pytest.raises(ValueError, match="skipped_rule"):
        write_results(tmp_path, "t", items, skipped_rule="ignored")


def test_summary_title_carries_a_note(tmp_path):
    rows = [{"method": "greedy", "wer": 10.0}, {"method": "1best", "wer": 5.0}]
    write_summary(tmp_path / "s.txt", rows, note="3 of 5 utterances skipped")
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert lines[0] == "## WER summary (best first); 3 of 5 utterances skipped"
    assert lines[2] == "1best\t5.00"  # line 3 stays the best method (run.sh prints it)
