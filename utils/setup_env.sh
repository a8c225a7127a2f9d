#!/usr/bin/env bash
# Usage: utils/setup_env.sh [--lane k2|modern|all]
#
# Creates the two dependency lanes at the repository root (see README, "Environments"):
#   .venv/         Python 3.9, torch 1.13.1, torchaudio 0.13.1, k2 1.23.4: the full toolkit
#   .venv-modern/  newest Python (3.11 by default), newest torch, no k2/torchaudio
# Idempotent: a lane whose stamp (requirements + setup.py + interpreter) is unchanged is
# left alone in well under a second. Override the interpreters with XLSR_PYTHON39 and
# XLSR_PYTHON_MODERN.
# Exit status: 0 when every requested lane is ready; 3 when the k2 lane could not be built
# (no Python 3.9): the modern lane is still built, and k2 features are unavailable.
set -euo pipefail

lane=all
while [ $# -gt 0 ]; do
  case "$1" in
    --lane) lane="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup_env.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$lane" in k2|modern|all) ;; *) echo "setup_env.sh: --lane must be k2, modern or all" >&2; exit 2 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[setup $(date +%H:%M:%S)] $*"; }

pyenv_root() { command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null || echo "${HOME}/.pyenv"; }

find_python() {  # $1: version prefix such as 3.9
  local want=$1 p
  for p in "$(pyenv_root)"/versions/"$want".*/bin/python; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  for p in "python$want" "/usr/bin/python$want" "/usr/local/bin/python$want"; do
    if command -v "$p" >/dev/null 2>&1; then
      # pyenv shims exist even when the version is not installed: check it really runs
      "$p" -c 'import sys' >/dev/null 2>&1 && { command -v "$p"; return 0; }
    fi
  done
  return 1
}

setup_lane() {  # $1 venv dir, $2 python, $3 requirements file
  local venv="$root/$1" py=$2 req="$root/$3" stamp want
  want=$(cat "$req" "$root/setup.py" <("$py" -VV) | sha256sum | cut -d' ' -f1)
  stamp="$venv/.xlsr-stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    log "$1 is up to date ($("$venv/bin/python" -V 2>&1))"
    return 0
  fi
  log "building $1 with $("$py" -V 2>&1) from $3 (a few minutes the first time)"
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
  fi
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  local pip_log="$venv/pip-install.log"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req" >"$pip_log" 2>&1 \
    || ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps \
      --no-build-isolation -e "$root" >>"$pip_log" 2>&1; then
    # pip warns once per missing local index; those lines are noise.
    grep -v "is ignored: it is neither a file nor a directory" "$pip_log" | tail -n 30 >&2
    log "ERROR: pip could not install $3 into $1 (full log: $pip_log)"
    return 1
  fi
  "$venv/bin/python" -c 'import xlsr, torch; print("xlsr", xlsr.__version__, "torch", torch.__version__)'
  echo "$want" > "$stamp"
  log "$1 ready"
}

status=0
if [ "$lane" = k2 ] || [ "$lane" = all ]; then
  if py39=${XLSR_PYTHON39:-$(find_python 3.9)}; then
    setup_lane .venv "$py39" requirements/k2.txt
  else
    log "ERROR: no Python 3.9 found (looked in $(pyenv_root)/versions/3.9.* and python3.9 on PATH)."
    log "       k2 1.23.4 exists only for CPython 3.9 + torch 1.13.1, so the k2 lane (.venv/) is"
    log "       not built. Unavailable: k2 CTC/transducer losses, HLG/LG graphs and lattice"
    log "       decoding, torchaudio parity tests. Install Python 3.9 (e.g. 'pyenv install 3.9')"
    log "       or set XLSR_PYTHON39=/path/to/python3.9. Everything else works in .venv-modern/."
    status=3
    [ "$lane" = k2 ] && lane=modern
  fi
fi
if [ "$lane" = modern ] || [ "$lane" = all ]; then
  pym=${XLSR_PYTHON_MODERN:-$(find_python 3.11 || command -v python3)}
  setup_lane .venv-modern "$pym" requirements/modern.txt
fi
exit $status
