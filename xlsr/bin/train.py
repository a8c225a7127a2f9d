"""Train any task: fine-tune (or train from scratch) an XLS-R encoder with the task's head.

Usage:
    python -m xlsr.bin.train --task asr_ctc --config conf/train_asr_ctc.yaml \\
        --lang-dir data/lang_char --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \\
        --valid-cuts data/manifests/numbers_cuts_dev.jsonl.gz --exp-dir exp/ctc \\
        [--xlsr-checkpoint xlsr2_300m.pt | --encoder-preset xlsr_tiny] [--max-update 2000] ...
    python -m xlsr.bin.train --exp-dir exp/ctc ...     # the task from exp/ctc/config.yaml
    torchrun --nproc_per_node 2 -m xlsr.bin.train --task asr_ctc ...     # DDP
    torchrun --nproc_per_node 8 -m xlsr.bin.train --task asr_ctc --distributed fsdp \\
        --enc-checkpoint-activations true ...                             # FSDP (XLS-R 2B)

Tasks: see ``python -m xlsr.bin.train --help`` (asr_ctc, asr_transducer). Every field of
TrainConfig (``--lr``, ``--max-update`` ...), DataConfig (``--data-*``), the task's model
config (``--<section>-*``: ``--ctc-loss``, ``--transducer-prune-range`` ...) and the encoder's
fine-tuning fields (``--enc-mask-prob`` ...) is an option; ``--config`` YAML has sections
``train``, ``data``, ``<section>``, ``encoder``. The resolved config goes to
EXP_DIR/config.yaml and into every checkpoint. Re-running the same command resumes.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from xlsr.bin.task_option import resolve_task
from xlsr.tasks.training import train_main


def main(argv: Optional[List[str]] = None) -> int:
    task = resolve_task(argv, "train")
    return train_main(argv, task, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
