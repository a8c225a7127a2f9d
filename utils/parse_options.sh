#!/usr/bin/env bash
# Source this after setting defaults: `. utils/parse_options.sh`.
#
# Kaldi-style options: for every `--some-name VALUE` (or `--some-name=VALUE`) on the command
# line, sets the shell variable some_name=VALUE, which must already exist (so typos fail).
# `--config FILE` sources FILE first (lines of `name=value`). `--help` / `-h` prints the
# calling script's usage block (its leading comment lines) and the current defaults of
# every variable named in it. Positional arguments are left in "$@" (a recipe that takes
# none passes them to `check_stages LAST "$@"` of utils/lib.sh, which rejects them).
__xlsr_usage() {
  local usage opt var
  usage=$(sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0")
  echo "$usage"
  echo
  echo "Current values:"
  for opt in $(grep -o -- '--[a-z][a-z0-9-]*' <<<"$usage" | awk '!seen[$0]++'); do
    var=$(echo "${opt#--}" | tr '-' '_')
    if declare -p "$var" >/dev/null 2>&1; then echo "  $opt '${!var}'"; fi
  done
}
__xlsr_positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) __xlsr_usage; exit 0 ;;
    --config=*) set -- --config "${1#--config=}" "${@:2}" ;;
    --config)
      if [ $# -lt 2 ] || [ ! -f "$2" ]; then echo "$0: --config needs an existing file, got '${2:-}'" >&2; exit 2; fi
      . "$2"; shift 2 ;;
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
