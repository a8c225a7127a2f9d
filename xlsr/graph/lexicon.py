"""Lexicons and lang directories (no k2 needed here).

A lang dir (``data/lang_bpe_<N>/`` as in icefall) holds:
    tokens.txt            token id table: <blk>=0, <sos/eos>=1, <unk>=2, pieces, #0, #1, ...
    words.txt             word id table: <eps>=0, <unk>=1, words, #0, <s>, </s>
    lexicon.txt           word -> token pieces (one line per pronunciation)
    lexicon_disambig.txt  the same with disambiguation symbols #1, #2 ... appended
and, from :mod:`xlsr.graph.compile` (k2), L.pt, L_disambig.pt, Linv.pt. Every file of a lang
dir is named by :class:`xlsr.graph.lang_dir.LangDir`.

OOV: ``<unk>`` is in words.txt and the lexicon (pronounced by the token ``<unk>``), so a
transcript word missing from the vocabulary maps to ``<unk>`` (counted and logged by
:func:`words_to_ids`), and the decoder can emit ``<unk>``. Words of the LM text must all be
in words.txt (arpa2fst refuses unknown words); :func:`prepare_lang_dir` takes the union of
transcripts and LM text.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

from xlsr.data.tokenizer import Tokenizer, read_symbols, write_symbols
from xlsr.graph.lang_dir import LangDir

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
Lexicon = List[Tuple[str, List[str]]]  # (word, pieces)
UNK = "<unk>"


def build_lexicon(tokenizer: Tokenizer, words_by_lang: Dict[str, Iterable[str]]) -> Lexicon:
    """Word -> pieces for every word; with per-language models a word used in several
    languages may get several pronunciations (all kept, duplicates removed). Characters the
    tokenizer never saw become the piece ``<unk>``."""
    entries = {(UNK, (UNK,))}
    with_unk = 0
    for lang, words in words_by_lang.items():
        for word in words:
            pieces = tuple(tokenizer.tokens[i] for i in tokenizer.encode(word, lang))
            if not pieces:
                raise ValueError(f"word {word!r} ({lang}) encodes to no tokens")
            with_unk += UNK in pieces
            entries.add((word, pieces))
    if with_unk:
        logger.warning(
            "%d words contain characters the tokenizer never saw in training; their "
            "pronunciations use the token <unk>",
            with_unk,
        )
    return [(w, list(p)) for w, p in sorted(entries)]


def add_disambig_symbols(lexicon: Lexicon) -> Tuple[Lexicon, int]:
    """Appends #1, #2 ... to pronunciations that are a prefix of another or repeated, so the
    lexicon transducer can be determinized (Kaldi's add_lex_disambig.pl rule).

    Returns:
        (lexicon with disambiguation symbols, the largest index used, at least 0)
    """
    counts = Counter(tuple(p) for _, p in lexicon)
    prefixes = set()
    for _, pron in lexicon:
        for i in range(1, len(pron)):
            prefixes.add(tuple(pron[:i]))
    last_used: Dict[Tuple[str, ...], int] = {}
    max_disambig = 0
    out: Lexicon = []
    for word, pron in lexicon:
        key = tuple(pron)
        if key in prefixes or counts[key] > 1:
            last_used[key] = last_used.get(key, 0) + 1
            max_disambig = max(max_disambig, last_used[key])
            out.append((word, list(pron) + [f"#{last_used[key]}"]))
        else:
            out.append((word, list(pron)))
    return out, max_disambig


def write_lexicon(lexicon: Lexicon, path: Pathlike) -> None:
    Path(path).write_text("".join(f"{w} {' '.join(p)}\n" for w, p in lexicon), encoding="utf-8")


def read_lexicon(path: Pathlike) -> Lexicon:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"{path}:{n + 1}: expected 'word piece ...', got {line!r}")
        out.append((parts[0], parts[1:]))
    return out


def prepare_lang_dir(
    lang_dir: Pathlike, tokenizer: Tokenizer, words_by_lang: Dict[str, Iterable[str]]
) -> Dict[str, int]:
    """Writes tokens.txt, words.txt, lexicon.txt and lexicon_disambig.txt into ``lang_dir``.

    Returns:
        counts: {"words": ..., "tokens": ..., "disambig": ...}
    """
    lexicon = build_lexicon(tokenizer, words_by_lang)
    return write_lang_dir(lang_dir, lexicon, tokenizer.tokens)


def write_lang_dir(
    lang_dir: Pathlike, lexicon: Lexicon, base_tokens: Sequence[str]
) -> Dict[str, int]:
    """Writes tokens.txt (``base_tokens`` + #0, #1 ...), words.txt, lexicon.txt and
    lexicon_disambig.txt for ``lexicon``."""
    lang = LangDir(lang_dir)
    lang.path.mkdir(parents=True, exist_ok=True)
    lexicon_disambig, max_disambig = add_disambig_symbols(lexicon)
    tokens = list(base_tokens) + [f"#{i}" for i in range(max_disambig + 1)]
    words = sorted({w for w, _ in lexicon} - {UNK})
    write_symbols(tokens, lang.tokens)
    write_symbols(["<eps>", UNK, *words, "#0", "<s>", "</s>"], lang.words)
    write_lexicon(lexicon, lang.lexicon)
    write_lexicon(lexicon_disambig, lang.lexicon_disambig)
    counts = {"words": len(words) + 1, "tokens": len(tokens), "disambig": max_disambig + 1}
    logger.info("lang dir %s: %s", lang.path, counts)
    return counts


def symbol_table(path: Pathlike) -> Dict[str, int]:
    return {s: i for i, s in enumerate(read_symbols(path))}


def words_to_ids(
    texts: Sequence[str], word_table: Dict[str, int], oov_counter: Counter = None
) -> List[List[int]]:
    """Word ids of each text; OOV words become ``<unk>`` and are counted in ``oov_counter``."""
    unk = word_table[UNK]
    out = []
    for text in texts:
        ids = []
        for w in text.split():
            if w in word_table:
                ids.append(word_table[w])
            else:
                ids.append(unk)
                if oov_counter is not None:
                    oov_counter[w] += 1
        out.append(ids)
    return out
