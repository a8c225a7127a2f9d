"""Tasks: one module per task, one registry (see :mod:`xlsr.tasks.base`).

    from xlsr.tasks import get_task
    task = get_task("asr_ctc")          # or "asr_transducer", "lid", "sid", "st"

Importing this package registers the built-in tasks; a user task registers itself when its
module is imported (``register(MyTask())``).
"""

from xlsr.tasks import asr_ctc, asr_transducer, classification, st  # noqa: F401  (register the built-in tasks)
from xlsr.tasks.base import Method, Task, get_task, register, task_names, task_of_run

__all__ = ["Method", "Task", "get_task", "register", "task_names", "task_of_run"]
