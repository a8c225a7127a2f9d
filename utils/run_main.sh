#!/usr/bin/env bash
# Usage: utils/run_main.sh [options of the main job]
#
# The README's main command: sets up the k2 lane if needed (utils/setup_env.sh --lane k2),
# then runs the main job. Until the embedded numbers recipe lands, the main job is the
# encoder demo (xlsr/bin/demo.py): it builds a tiny XLS-R encoder, saves and re-loads it
# through xlsr.load_encoder in our, fairseq and Hugging Face formats, and encodes a
# generated waveform. Without Python 3.9 it runs in the modern lane instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rc=0
utils/setup_env.sh --lane k2 || rc=$?
if [ $rc -eq 0 ]; then
  py=.venv/bin/python
elif [ $rc -eq 3 ]; then
  py=.venv-modern/bin/python
else
  exit $rc
fi
exec "$py" -m xlsr.bin.demo "$@"
