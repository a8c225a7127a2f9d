# Environment of the recipe (sourced by run.sh): which Python runs the stages.
# The k2 lane (.venv/) runs everything; the modern lane runs all but the k2 graph stages.
xlsr_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$xlsr_root/.venv/bin/python" ]; then
    PYTHON=$xlsr_root/.venv/bin/python
  elif [ -x "$xlsr_root/.venv-modern/bin/python" ]; then
    PYTHON=$xlsr_root/.venv-modern/bin/python
  else
    echo "path.sh: no environment found; run $xlsr_root/utils/setup_env.sh first" >&2
    exit 1
  fi
fi
export PYTHONUNBUFFERED=1
