#!/usr/bin/env bash
# Usage: utils/run_main.sh [options of egs/numbers/ASR/run.sh]
#
# The README's main command: sets up the k2 lane if needed (utils/setup_env.sh --lane k2),
# then runs the embedded default recipe, egs/numbers/ASR/run.sh, stages 0-5: synthesise the
# multilingual numbers corpus, build the language side and HLG, train a small XLS-R-shaped
# encoder with a k2 CTC loss, decode with every method and score (exp/ctc/decode/).
# Without Python 3.9 (no k2) it runs in the modern lane: stages 0-2, then training with
# torch's CTC loss and greedy decoding.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rc=0
"$root/utils/setup_env.sh" --lane k2 || rc=$?
cd "$root/egs/numbers/ASR"
if [ $rc -eq 0 ]; then
  exec env PYTHON="$root/.venv/bin/python" ./run.sh "$@"
elif [ $rc -eq 3 ]; then
  echo "run_main.sh: no k2 lane: running the k2-free variant of the recipe" >&2
  export PYTHON="$root/.venv-modern/bin/python"
  ./run.sh --stage 0 --stop-stage 2 "$@"
  exec ./run.sh --stage 4 --stop-stage 5 --ctc-loss torch --methods ctc-greedy-search "$@"
else
  exit $rc
fi
