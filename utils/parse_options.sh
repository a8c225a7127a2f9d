#!/usr/bin/env bash
# Source this after setting defaults: `. utils/parse_options.sh`.
#
# Kaldi-style options: for every `--some-name VALUE` (or `--some-name=VALUE`) on the command
# line, sets the shell variable some_name=VALUE, which must already exist (so typos fail).
# `--config FILE` sources FILE first (lines of `name=value`). `--help` / `-h` prints the
# calling script's usage block (its leading comment lines) and the current defaults of
# every variable named in it. Positional arguments are left in "$@".
__xlsr_usage() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
}
__xlsr_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) __xlsr_usage; exit 0 ;;
    --config) . "$2"; shift 2 ;;
    --config=*) . "${1#--config=}"; shift ;;
    --*=*) __name="${1%%=*}"; __value="${1#*=}"; set -- "$__name" "$__value" "${@:2}" ;;
    --*)
      __name=$(echo "${1#--}" | tr '-' '_')
      if [ -z "${__name}" ] || ! declare -p "$__name" >/dev/null 2>&1; then
        echo "$0: unknown option $1 (run $0 --help)" >&2; exit 2
      fi
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 2; fi
      printf -v "$__name" '%s' "$2"
      shift 2 ;;
    *) __xlsr_positional+=("$1"); shift ;;
  esac
done
set -- "${__xlsr_positional[@]+"${__xlsr_positional[@]}"}"
unset __name __value __xlsr_positional
