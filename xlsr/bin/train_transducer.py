"""Fine-tune (or train from scratch) an XLS-R encoder with a pruned transducer head
(stateless prediction network + joiner, k2's pruned RNN-T loss).

Usage:
    python -m xlsr.bin.train_transducer --config conf/train_transducer.yaml \\
        --lang-dir data/lang_char --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \\
        --exp-dir exp/transducer [--xlsr-checkpoint xlsr2_300m.pt | --encoder-preset xlsr_mini] \\
        [--transducer-prune-range 5] [--transducer-ctc-loss-scale 0.2] ...
    torchrun --nproc_per_node 2 -m xlsr.bin.train_transducer ...   # DDP

Options as in ``xlsr.bin.train_ctc``; TransducerConfig's fields are ``--transducer-*`` and
the YAML section ``transducer``. Needs k2 (the k2 lane).
"""

from __future__ import annotations

import sys
from typing import List, Optional

from xlsr.bin.train_common import Head, train_main
from xlsr.models.transducer import TransducerConfig, TransducerModel, compute_transducer_loss

HEAD = Head(
    "transducer", TransducerConfig, "transducer_", TransducerModel, compute_transducer_loss,
    ctc_feasible=False, arch_fields=("vocab_size", "decoder_dim", "joiner_dim", "context_size"),
)  # fmt: skip


def main(argv: Optional[List[str]] = None) -> int:
    return train_main(argv, HEAD, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
