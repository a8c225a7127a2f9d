#!/usr/bin/env bash
# Usage: utils/run_main.sh [options of egs/numbers/ASR/run.sh]
#
# The README's main command: sets up the k2 lane if needed (utils/setup_env.sh --lane k2),
# then runs the embedded default recipe, egs/numbers/ASR/run.sh, stages 0-5: synthesise the
# multilingual numbers corpus, build the language side and HLG, train a small XLS-R-shaped
# encoder with a k2 CTC loss, decode with every method and score (exp/ctc/decode/).
# Without Python 3.9 (no k2) it runs in the modern lane: stages 0-2, stage 3 skipped with a
# warning (no graphs), then training with torch's CTC loss and greedy decoding. Options
# (e.g. --stage 4) go to run.sh, which checks them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rc=0
"$root/utils/setup_env.sh" --lane k2 || rc=$?
cd "$root/egs/numbers/ASR"
if [ $rc -eq 0 ]; then
  exec env PYTHON="$root/.venv/bin/python" ./run.sh "$@"
elif [ $rc -eq 3 ]; then
  echo "run_main.sh: no k2 lane: running the k2-free variant of the recipe" >&2
  # without k2, run.sh skips stage 3 (graphs) with a warning; the user's options come last
  exec env PYTHON="$root/.venv-modern/bin/python" ./run.sh --ctc-loss torch \
    --methods ctc-greedy-search "$@"
else
  exit $rc
fi
