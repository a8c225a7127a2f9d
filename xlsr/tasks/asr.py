"""What the ASR tasks share: token targets of the lang dir, the loss glue, WER result files."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from torch import Tensor, nn

from xlsr.tasks.base import Pathlike, Task, batch_loss


def compute_asr_loss(model: nn.Module, batch: Dict) -> Tuple[Tensor, Dict[str, float]]:
    """The trainer's ``loss_fn`` for the ASR heads (token-id targets; see
    :func:`xlsr.tasks.base.batch_loss`: an all-skipped batch runs on silence with no tokens)."""
    return batch_loss(model, batch, [[]])


class AsrTask(Task):
    """Speech recognition on a lang dir's tokens, scored by WER."""

    arch_fields = ("vocab_size",)

    def targets(self, lang_dir: Pathlike):
        from xlsr.data.targets import CutTargets

        return CutTargets.from_lang_dir(lang_dir)

    def lang_values(self, targets) -> Dict[str, Any]:
        return {"vocab_size": targets.tokenizer.vocab_size}

    def run_facts(self, targets) -> Dict[str, Any]:
        from xlsr.utils.fingerprint import short_hash

        return {"tokens_hash": short_hash(targets.tokenizer.directory / "tokens.txt")}

    def check_cuts(self, cuts, targets, data_cfg, name: str):
        from xlsr.data.targets import scan_unknown_symbols

        return scan_unknown_symbols(cuts, targets, data_cfg.unknown_symbols, name)[0]

    def feasibility_encode(self, targets):
        tokenizer, normalize = targets.tokenizer, targets.normalizer
        if tokenizer.config.per_language:  # needs the cut's language: the loss drops them
            return None
        return lambda text: tokenizer.encode(normalize(text))

    def loss(self, model, batch):
        return compute_asr_loss(model, batch)

    def lang_files(self, lang_dir: Pathlike, methods, external: bool = False):
        from xlsr.graph.lang_dir import LangDir

        own = {} if external else {LangDir(lang_dir).tokenizer_tokens: "the model's tokens"}
        return {**own, **super().lang_files(lang_dir, methods, external)}

    def check_lang(self, lang_dir: Pathlike, cfg, run_config, source: str) -> None:
        from xlsr.tasks.decode_model import check_lang_dir

        check_lang_dir(
            lang_dir,
            cfg.vocab_size,
            source,
            run_config.get("tokens_hash"),
            run_config.get("lang_dir"),
        )

    def reference(self, lang_dir: Pathlike):
        from xlsr.data.dataset import cut_text
        from xlsr.data.text_norm import TextNormalizer

        norm = TextNormalizer.load(lang_dir)
        return lambda cut: norm(cut_text(cut))

    def score(self, out_dir: Pathlike, test_set: str, items, **kwargs) -> dict:
        from xlsr.scoring.results import write_results

        return write_results(out_dir, test_set, items, **kwargs)
