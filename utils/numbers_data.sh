#!/usr/bin/env bash
# The data stages 0-1 of every egs/numbers recipe (ASR, LID, SID, ST): `. utils/numbers_data.sh`
# after parse_options.sh, then `numbers_check_options` with the other option checks and
# `numbers_data_stages` before the task's stages.
#
#   stage 0: synthesise the corpus (local/synthesize_numbers.py)    -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs (local/prepare_numbers.py), then
#            xlsr.bin.validate_data on the train/dev/test cuts      -> data/manifests/
#
# The recipe defines, before sourcing this file, the options num_utterances max_number
# languages numbers_per_utt speakers_per_lang eval_speakers_per_lang seed num_jobs
# allow_bad_data; and, optionally, a function
# `numbers_extra_splits LOG` that stage 1 runs after the manifests (e.g. the SID recipe's
# identification / verification splits), whose outputs stage 1's marker then covers.
# Afterwards these are set for the task's stages: manifests_marker, fp_manifests,
# cuts_of SET (the manifest of a split), lm_text_dir.

numbers_check_options() {
  check_int num_utterances max_number seed num_jobs speakers_per_lang eval_speakers_per_lang
  check_choice allow_bad_data true false
  [[ $numbers_per_utt =~ ^[1-9][0-9]*,[1-9][0-9]*$ ]] && [ "${numbers_per_utt%,*}" -le "${numbers_per_utt#*,}" ] \
    || die "--numbers-per-utt must be MIN,MAX numbers spoken per utterance (1 <= MIN <= MAX, e.g. 1,2), got '$numbers_per_utt'"
}

fp_corpus() {
  stage_fingerprint num_utterances="$num_utterances" languages="$languages" \
    max_number="$max_number" numbers_per_utt="$numbers_per_utt" speakers_per_lang="$speakers_per_lang" \
    eval_speakers_per_lang="$eval_speakers_per_lang" seed="$seed" -- \
    data/corpus/.complete data/corpus/metadata.jsonl
}
fp_manifests() { stage_fingerprint -- data/corpus/metadata.jsonl; }
manifests_marker=data/manifests/.done
lm_text_dir=data/corpus/lm_text   # every number of the domain spelled out (external LM text)
cuts_of() { echo "data/manifests/numbers_cuts_$1.jsonl.gz"; }

# check_data LOG CUTS...: validate_data on the cuts; stops on cuts that would be dropped
# unless --allow-bad-data true (then data/manifests/.bad_data names the report).
check_data() {
  local slog=$1 report=data/manifests/validate_data.json rc=0
  shift
  $PYTHON -m xlsr.bin.validate_data "$@" --json "$report" 2>&1 | tee -a "$slog" || rc=$?
  if [ $rc -eq 1 ] && [ "$allow_bad_data" = true ]; then
    log "WARNING: validate_data found cuts that will be skipped (report: $report); going on (--allow-bad-data true)" | tee -a "$slog"
    echo "$report" >data/manifests/.bad_data
  elif [ $rc -eq 1 ]; then
    die "validate_data found cuts that would be dropped (report: $report, log: $slog): fix the corpus, or pass --allow-bad-data true to skip them"
  elif [ $rc -ne 0 ]; then
    die "validate_data failed (exit $rc, log: $slog)"
  fi
}

numbers_data_stages() {
  if run_stage 0 "synthesise the numbers corpus"; then
    if stage_is_done data/corpus/.done "$(fp_corpus)"; then
      log "data/corpus is up to date (data/corpus/.done), skipping"
    else
      rm -f data/corpus/.done
      slog=$(stage_log 0)
      $PYTHON local/synthesize_numbers.py --corpus-dir data/corpus --num-utterances "$num_utterances" \
        --languages "$languages" --max-number "$max_number" --seed "$seed" --num-jobs "$num_jobs" \
        --min-numbers-per-utterance "${numbers_per_utt%,*}" --max-numbers-per-utterance "${numbers_per_utt#*,}" \
        --speakers-per-language "$speakers_per_lang" --eval-speakers-per-language "$eval_speakers_per_lang" \
        2>&1 | tee -a "$slog"
      mark_done data/corpus/.done "$(fp_corpus)"
    fi
  fi

  if run_stage 1 "lhotse manifests and Kaldi data dirs"; then
    if stage_is_done data/manifests/.done "$(fp_manifests)"; then
      if [ -f data/manifests/.bad_data ] && [ "$allow_bad_data" != true ]; then
        die "data/manifests has cuts that would be dropped (report: $(cat data/manifests/.bad_data)): pass --allow-bad-data true, or fix the corpus and rerun stage 1"
      fi
      log "data/manifests is up to date (data/manifests/.done), skipping"
    else
      require_done data/corpus/.done "$(fp_corpus)" "data/corpus is not a finished corpus of these options: run stage 0"
      rm -f data/manifests/.done data/manifests/.bad_data
      slog=$(stage_log 1)
      $PYTHON local/prepare_numbers.py --corpus-dir data/corpus --output-dir data/manifests \
        2>&1 | tee -a "$slog"
      check_data "$slog" data/manifests/numbers_cuts_{train,dev,test}.jsonl.gz
      if declare -F numbers_extra_splits >/dev/null; then numbers_extra_splits "$slog"; fi
      mark_done data/manifests/.done "$(fp_manifests)"
    fi
  fi
}
