#!/usr/bin/env bash
# Shared shell helpers for recipes: `. utils/lib.sh`.

# log MESSAGE...: a time-stamped line naming the calling script and line.
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) $*"
}

# run_stage N NAME: true when stage N is within [stage, stop_stage]; logs the stage.
run_stage() {
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then
    echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) Stage $1: $2"
    return 0
  fi
  return 1
}
