"""Fine-tune (or train from scratch) an XLS-R encoder with a CTC head.

Usage:
    python -m xlsr.bin.train_ctc --config conf/train_ctc.yaml --lang-dir data/lang_bpe_500 \\
        --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \\
        --valid-cuts data/manifests/numbers_cuts_dev.jsonl.gz --exp-dir exp/ctc \\
        [--xlsr-checkpoint xlsr2_300m.pt | --encoder-preset xlsr_tiny] [--max-update 2000] ...
    torchrun --nproc_per_node 2 -m xlsr.bin.train_ctc ...    # DDP (2 processes)
    torchrun --nproc_per_node 8 -m xlsr.bin.train_ctc --distributed fsdp \\
        --enc-checkpoint-activations true ...                  # FSDP (XLS-R 2B)

Every field of TrainConfig (``--lr``, ``--max-update`` ...), DataConfig (``--data-*``),
CtcConfig (``--ctc-*``) and the encoder's fine-tuning fields (``--enc-mask-prob`` ...) is an
option; ``--config`` YAML has sections ``train``, ``data``, ``ctc``, ``encoder``. The
resolved config goes to EXP_DIR/config.yaml and into every checkpoint. Re-running the same
command resumes from the newest checkpoint in EXP_DIR.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from xlsr.bin.train_common import Head, train_main
from xlsr.models.ctc import CtcConfig, CtcModel, compute_ctc_loss

HEAD = Head("ctc", CtcConfig, "ctc_", CtcModel, compute_ctc_loss, ctc_feasible=True)


def main(argv: Optional[List[str]] = None) -> int:
    return train_main(argv, HEAD, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
