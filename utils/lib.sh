#!/usr/bin/env bash
# Shared shell helpers for recipes: `. utils/lib.sh` (before `. utils/parse_options.sh`).
#
# Logging and errors:  log MESSAGE, die MESSAGE
# Options:             check_stages LAST "$@", check_int NAME..., check_choice NAME CHOICE...,
#                      check_numbers NAME...
# Stages:              run_stage N NAME, stage_log N
# Markers:             stage_fingerprint, stage_is_done, stage_changes, require_done, mark_done,
#                      move_aside
#
# A stage's marker holds the fingerprint of the inputs that produced its output (the options
# and the md5 of each input file) and is written last, after the work succeeded:
#
#   fp=$(stage_fingerprint vocab_size="$vocab_size" -- data/train.jsonl.gz data/lm_text)
#   if stage_is_done "$dir/.done" "$fp"; then
#     log "$dir is up to date, skipping"
#   else
#     rm -f "$dir/.done"     # an interrupted rerun must not leave the old marker behind
#     slog=$(stage_log 2)
#     make_things 2>&1 | tee -a "$slog"    # set -o pipefail: a failure fails the stage
#     mark_done "$dir/.done" "$fp"
#   fi

# log MESSAGE...: a time-stamped line naming the calling script and line.
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) $*"
}

# die MESSAGE...: the message on stderr, naming the script, and exit 1.
die() {
  echo "$0: ERROR: $*" >&2
  exit 1
}

# run_stage N NAME: true when stage N is within [stage, stop_stage]; logs the stage.
run_stage() {
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then
    echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) Stage $1: $2"
    return 0
  fi
  return 1
}

# check_stages LAST [ARGS...]: $stage and $stop_stage are integers with
# 0 <= stage <= stop_stage <= LAST, and there are no ARGS (pass "$@" after parse_options.sh:
# a recipe takes options only, so a stray word is an error rather than ignored).
check_stages() {
  local last=$1
  shift
  [ $# -eq 0 ] || die "unexpected argument(s): $* (options are --name value; see $0 --help)"
  check_int stage stop_stage
  [ "$stage" -le "$last" ] || die "--stage $stage: the last stage is $last"
  [ "$stop_stage" -le "$last" ] || die "--stop-stage $stop_stage: the last stage is $last"
  [ "$stage" -le "$stop_stage" ] || die "--stage $stage is after --stop-stage $stop_stage: nothing to run"
}

# check_int NAME...: each variable NAME (option --NAME) holds a non-negative integer.
check_int() {
  local name
  for name in "$@"; do
    [[ ${!name} =~ ^[0-9]+$ ]] || die "--${name//_/-} must be a non-negative integer, got '${!name}'"
  done
}

# check_choice NAME CHOICE...: the variable NAME (option --NAME) is one of the CHOICEs.
check_choice() {
  local name=$1 choice
  shift
  for choice in "$@"; do [ "${!name}" = "$choice" ] && return 0; done
  die "--${name//_/-} must be one of: $* (got '${!name}')"
}

# check_numbers NAME...: each variable NAME holds comma-separated decimal numbers (0.1,0.5).
check_numbers() {
  local name num='[0-9]+(\.[0-9]*)?|\.[0-9]+'
  for name in "$@"; do
    [[ ${!name} =~ ^($num)(,($num))*$ ]] \
      || die "--${name//_/-} must be comma-separated numbers such as 0.1,0.5, got '${!name}'"
  done
}

# stage_log N: a new log file for this run of stage N, exp/log/stage<N>-<YYYYmmdd-HHMMSS>.log
# (never one of an earlier run; $log_dir overrides exp/log), and the link stage<N>.log to the
# newest. Prints the file's path. A stage that is skipped does not call it.
stage_log() {
  local dir=${log_dir:-exp/log} stamp n=1 f
  stamp=$(date +%Y%m%d-%H%M%S)
  mkdir -p "$dir"
  f=$dir/stage$1-$stamp.log
  until (set -o noclobber; : >"$f") 2>/dev/null; do
    n=$((n + 1))
    f=$dir/stage$1-$stamp-$n.log
  done
  if [ -f "$dir/stage$1.log" ] && [ ! -L "$dir/stage$1.log" ]; then
    # a log written before logs were kept per run: keep it under its date
    mv "$dir/stage$1.log" "$dir/stage$1-$(date -r "$dir/stage$1.log" +%Y%m%d-%H%M%S)-old.log"
  fi
  ln -sfn "${f##*/}" "$dir/stage$1.log"
  echo "$f"
}

# stage_fingerprint [NAME=VALUE...] [-- PATH...]: the inputs of a stage as text, one line
# each: "option NAME=VALUE" for each option, then "file PATH MD5" for each file (a directory
# stands for every file below it, in sorted order) or "file PATH missing".
stage_fingerprint() {
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    echo "option $1"
    shift
  done
  [ $# -eq 0 ] || shift
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      find "$p" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum --
    elif [ -f "$p" ]; then
      md5sum -- "$p"
    else
      echo "missing  $p"
    fi
  done | while read -r sum path; do echo "file $path $sum"; done
}

# stage_is_done MARKER FP: true when MARKER exists and records exactly the fingerprint FP.
stage_is_done() {
  [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# stage_changes MARKER FP: why MARKER does not match FP, in one line (for the log).
stage_changes() {
  if [ ! -f "$1" ]; then
    echo "no marker $1 (never finished, or interrupted)"
    return 0
  fi
  local was now
  was=$(grep -Fxv -f <(printf '%s\n' "$2") "$1" | head -n 4 | paste -sd ';' - || true)
  now=$(printf '%s\n' "$2" | grep -Fxv -f "$1" | head -n 4 | paste -sd ';' - || true)
  echo "inputs changed since $1 was written: was [${was}] now [${now}]"
}

# require_done MARKER FP WHAT: exits with an error naming WHAT and MARKER unless the marker
# records FP (the output of an earlier stage is complete and made from the current inputs).
require_done() {
  stage_is_done "$1" "$2" || die "$3: $(stage_changes "$1" "$2")"
}

# mark_done MARKER FP: writes FP to MARKER atomically (call it after the stage's work).
mark_done() {
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" >"$1.tmp.$$"
  mv -f "$1.tmp.$$" "$1"
}

# move_aside DIR: renames DIR to DIR.stale-<YYYYmmdd-HHMMSS> (never over an earlier one) and
# prints the new name.
move_aside() {
  local dest n=1
  dest=$1.stale-$(date +%Y%m%d-%H%M%S)
  while [ -e "$dest" ]; do
    n=$((n + 1))
    dest=$1.stale-$(date +%Y%m%d-%H%M%S)-$n
  done
  mv "$1" "$dest"
  echo "$dest"
}
