"""Graphs with k2: L / L_disambig / Linv, LG (transducer fast beam search), HLG (CTC), the
OpenFst export of HLG (kaldifst, for kaldi-decoder and sherpa-onnx), and the CTC training
graph compiler. :func:`build_graphs` is the graph step of a lang dir (files named by
:class:`~xlsr.graph.lang_dir.LangDir`).

Label conventions: tokens as in tokens.txt (0 = blank), words as in words.txt (0 = eps).
Disambiguation symbols (#0, #1, ...) are removed once LG is determinized.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch

from xlsr.graph.k2_utils import require_k2
from xlsr.graph.lang_dir import LangDir
from xlsr.graph.lexicon import read_lexicon, symbol_table

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
#: Default bound on G's arcs before composition; beyond it compose/determinize may need
#: tens of GB. Prune the LM (kaldingram prune) or raise the bound knowingly.
MAX_G_ARCS = 5_000_000


class GraphTooLargeError(RuntimeError):
    pass


def graph_stats(name: str, fsa) -> str:
    msg = f"{name}: {fsa.shape[0]} states, {fsa.num_arcs} arcs"
    logger.info(msg)
    return msg


def lexicon_fsa(
    lexicon,
    tokens: Dict[str, int],
    words: Dict[str, int],
    disambig: bool,
    optional_tokens: Sequence[str] = (),
):
    """The lexicon transducer (tokens -> words) with one loop state and no silence.

    A word with pieces p1..pn is a path 0 -p1:word-> s1 -p2:eps-> ... -pn:eps-> 0. With
    ``disambig`` a #0:#0 self-loop at the loop state lets G's back-off arcs pass.
    ``optional_tokens`` (e.g. the ``|`` word delimiter of HF character models) get
    token:eps self-loops at the loop state, so they may appear between words.
    """
    k2 = require_k2("building L")
    first: List[str] = []
    rest: List[str] = []
    next_state = 1
    for word, pron in lexicon:
        if word not in words:
            raise ValueError(f"lexicon word {word!r} is not in words.txt")
        missing = [p for p in pron if p not in tokens]
        if missing:
            raise ValueError(f"lexicon entry {word!r} uses tokens not in tokens.txt: {missing}")
        ids = [tokens[p] for p in pron]
        src, out = 0, words[word]
        for i, tok in enumerate(ids):
            last = i == len(ids) - 1
            dst = 0 if last else next_state
            if not last:
                next_state += 1
            (first if src == 0 else rest).append(f"{src} {dst} {tok} {out} 0.0")
            src, out = dst, 0
    if disambig:
        first.append(f"0 0 {tokens['#0']} {words['#0']} 0.0")
    first += [f"0 0 {tokens[t]} 0 0.0" for t in optional_tokens]
    final = next_state  # k2: arcs sorted by source state, the final state last
    lines = first + [f"0 {final} -1 -1 0.0"] + rest + [f"{final}"]
    return k2.arc_sort(k2.Fsa.from_str("\n".join(lines), acceptor=False))


def make_lang_fsts(lang_dir: Pathlike) -> None:
    """Writes L.pt, L_disambig.pt and Linv.pt into a lang dir made by prepare_lang_dir."""
    k2 = require_k2("building L")
    lang = LangDir(lang_dir)
    tokens, words = symbol_table(lang.require(lang.tokens)), symbol_table(lang.require(lang.words))
    meta = lang.meta
    optional = json.loads(meta.read_text()).get("optional_tokens", []) if meta.exists() else []
    L = lexicon_fsa(read_lexicon(lang.require(lang.lexicon)), tokens, words, False, optional)
    lexicon_disambig = read_lexicon(lang.require(lang.lexicon_disambig))
    L_disambig = lexicon_fsa(lexicon_disambig, tokens, words, True, optional)
    torch.save(L.as_dict(), lang.L)
    torch.save(L_disambig.as_dict(), lang.L_disambig)
    torch.save(k2.arc_sort(L.invert()).as_dict(), lang.Linv)
    graph_stats("L", L)
    graph_stats("L_disambig", L_disambig)


def load_fsa(path: Pathlike):
    k2 = require_k2("loading graphs")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: graph not found")
    return k2.Fsa.from_dict(torch.load(path, map_location="cpu"))


def compile_lg(lang_dir: Pathlike, G, max_g_arcs: int = MAX_G_ARCS):
    """LG = det(L_disambig o G) with disambiguation symbols removed; labels are tokens,
    aux_labels (ragged) are words."""
    k2 = require_k2("compiling LG")
    lang = LangDir(lang_dir)
    if G.num_arcs > max_g_arcs:
        raise GraphTooLargeError(
            f"G has {G.num_arcs} arcs, more than the limit {max_g_arcs}: prune the LM first "
            "(e.g. kaldingram prune --threshold 1e-7) or raise max_g_arcs if you have the memory"
        )
    tokens, words = symbol_table(lang.require(lang.tokens)), symbol_table(lang.require(lang.words))
    L = k2.arc_sort(load_fsa(lang.require(lang.L_disambig)))
    G = k2.arc_sort(G)
    LG = k2.connect(k2.compose(L, G))
    graph_stats("L o G", LG)
    LG = k2.connect(k2.determinize(LG))
    graph_stats("det(L o G)", LG)
    LG.labels[LG.labels >= tokens["#0"]] = 0
    LG.__dict__["_properties"] = None
    aux = LG.aux_labels
    aux.values[aux.values >= words["#0"]] = 0
    LG.aux_labels = aux
    LG = k2.connect(k2.remove_epsilon(LG))
    LG.aux_labels = LG.aux_labels.remove_values_eq(0)
    LG = k2.arc_sort(LG)
    graph_stats("LG", LG)
    return LG


def compile_hlg(LG, max_token_id: int, modified: bool = False):
    """HLG = H o LG with H the CTC topology over tokens 0..max_token_id (``modified``:
    k2's modified topology, linear in the vocabulary size)."""
    k2 = require_k2("compiling HLG")
    H = k2.ctc_topo(max_token_id, modified=modified)
    graph_stats("H" + (" (modified)" if modified else ""), H)
    HLG = k2.connect(k2.compose(H, LG, inner_labels="tokens"))
    HLG = k2.arc_sort(HLG)
    graph_stats("HLG", HLG)
    return HLG


def hlg_to_openfst_text(HLG) -> str:
    """OpenFst text of HLG: input labels are token id + 1 (so blank = 1 and 0 is epsilon, as
    kaldi-decoder's DecodableCtc expects), output labels words, weights = -scores."""
    k2 = require_k2("exporting HLG")
    fsa = HLG.clone()
    labels = fsa.labels.clone()
    labels[labels >= 0] += 1
    fsa.labels = labels
    if isinstance(fsa.aux_labels, k2.RaggedTensor):
        fsa = k2.expand_ragged_attributes(fsa)  # extra epsilon arcs, one word per arc
    arcs = fsa.arcs.values()[:, :3].tolist()
    aux = fsa.aux_labels.tolist()
    scores = fsa.scores.tolist()
    lines, finals = [], {}
    for (src, dst, label), olabel, score in zip(arcs, aux, scores):
        if label == -1:
            finals[src] = min(finals.get(src, float("inf")), -score)
        else:
            lines.append(f"{src} {dst} {label} {max(olabel, 0)} {-score:.6g}")
    lines += [f"{s} {w:.6g}" for s, w in sorted(finals.items())]
    return "\n".join(lines) + "\n"


def write_hlg_fst(HLG, path: Pathlike) -> None:
    """Writes HLG (or any graph with token labels and word/token aux_labels, e.g. H) as an
    OpenFst binary (``HLG.fst``) with kaldifst."""
    import kaldifst

    fst = kaldifst.compile(hlg_to_openfst_text(HLG), acceptor=False)
    fst.write(str(path))
    logger.info("%s: OpenFst graph written", path)


def write_h_fst(max_token_id: int, path: Pathlike, modified: bool = False) -> None:
    """Writes the CTC topology H over tokens 0..``max_token_id`` as an OpenFst binary
    (``H.fst``: input labels token id + 1, output labels token ids), the graph of CTC
    decoding without words (sherpa-onnx's CTC-FST decoder takes it as it takes HLG.fst)."""
    k2 = require_k2("H.fst")
    write_hlg_fst(k2.ctc_topo(max_token_id, modified=modified), path)


def build_graphs(
    lang_dir: Pathlike,
    first_pass_order: int,
    rescore_order: int,
    modified_ctc: bool = False,
    max_g_arcs: int = MAX_G_ARCS,
) -> LangDir:
    """The graph step of a lang dir: LG.pt, HLG.pt and HLG.fst compiled from
    ``G_<first_pass_order>_gram.pt``; both orders recorded in ``lm_orders.json`` (so the
    decoders rescore with ``G_<rescore_order>_gram.pt``).

    Args:
        lang_dir: A lang dir with the tables, L_disambig.pt and the first-pass G.
        first_pass_order: The order of the G that LG and HLG are compiled from.
        rescore_order: The order of the rescoring G (needed at decoding only: a warning when
            it is missing now).
        modified_ctc: k2's modified CTC topology for H (linear in the vocabulary size).
        max_g_arcs: Bound on G's arcs (:class:`GraphTooLargeError` beyond it).

    Returns:
        LangDir: the lang dir.

    Raises:
        LangDirError: naming a missing input and the script that makes it.
    """
    lang = LangDir(lang_dir)
    G = load_fsa(lang.require(lang.G(first_pass_order)))
    LG = compile_lg(lang.path, G, max_g_arcs)
    torch.save(LG.as_dict(), lang.LG)
    max_token_id = symbol_table(lang.tokens)["#0"] - 1  # #0, #1 ... follow the model's tokens
    HLG = compile_hlg(LG, max_token_id, modified=modified_ctc)
    torch.save(HLG.as_dict(), lang.HLG)
    write_hlg_fst(HLG, lang.HLG_fst)
    if not lang.G(rescore_order).exists():
        logger.warning(
            "%s: missing; the rescoring methods need it (%s makes it)",
            lang.G(rescore_order),
            lang.maker(lang.G(rescore_order)),
        )
    lang.write_orders(first_pass_order, rescore_order)
    logger.info("graphs of %s from %s", lang.path, lang.G(first_pass_order).name)
    return lang


class CtcGraphCompiler:
    """Token id sequences -> batched CTC training graphs (k2.ctc_graph).

    Args:
        modified: use the modified CTC topology (blank between repeats optional).
        device: where the graphs go.
    """

    def __init__(self, modified: bool = False, device: Optional[torch.device] = None):
        self.k2 = require_k2("k2 CTC loss")
        self.modified = modified
        self.device = device or torch.device("cpu")

    def compile(self, token_ids: Sequence[Sequence[int]]):
        """token_ids: one list of token ids per utterance (no blanks). Returns an FsaVec."""
        graphs = [list(t) for t in token_ids]
        return self.k2.ctc_graph(graphs, modified=self.modified, device=self.device)
