#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Multilingual spoken-numbers ASR (the embedded corpus, synthesised with espeak-ng).
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts -> data/manifests/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/lang_char/ (--model-type char) or
#                                                     data/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model: --head ctc (k2 CTC loss) or transducer (k2 pruned RNN-T loss)
#                                                   -> exp/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<head>/decode/
#
# Stage markers: each stage writes its marker last, after its work succeeded
# (data/corpus/.done, data/manifests/.done, <lang dir>/.lang.done, <lang dir>/.graphs.done,
# exp/<head>/.done, exp/<head>/decode/.done-<test set>). A marker holds the fingerprint of
# the stage's inputs: its options and the md5 of the files it read. A stage is skipped only
# when its marker matches the current inputs; otherwise it reruns, and a stage refuses to
# start from an earlier stage's output that has no matching marker (an interrupted stage).
# Stale exp dirs: when stage 4's inputs (lang dir, manifests, conf, training options) differ
# from those the existing exp/<head> was trained from, that exp dir is moved aside to
# exp/<head>.stale-<YYYYmmdd-HHMMSS> (logged with the reason) and training starts afresh;
# an interrupted training of the same inputs, or a larger --max-update, resumes it.
# Logs: every stage that runs logs to a new exp/log/stage<N>-<YYYYmmdd-HHMMSS>.log
# (exp/log/stage<N>.log links the newest); a skipped stage writes none.
# Bad data: stage 1 runs xlsr.bin.validate_data on the train/dev/test cuts and stops when
# a cut would be dropped (report: data/manifests/validate_data.json) unless
# --allow-bad-data true.
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number --languages --seed
#   --num-jobs --allow-bad-data --vocab-size --model-type --per-language --lm-orders
#   --modified-ctc --head --encoder-preset --xlsr-checkpoint --max-update --exp-dir --methods
#   --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
#   transducer: --beam-size --beam --max-contexts --max-states --ngram-lm-scales --num-paths
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
num_utterances=3000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
vocab_size=500
model_type=char          # char | unigram | bpe (char learns fastest for the tiny encoder)
per_language=false       # one tokenizer per language (token table = union)
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc | transducer: the task asr_<head> (conf/{train,decode}_asr_<head>.yaml)
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""            # default: conf/train_asr_<head>.yaml (ctc 1600, transducer 3200)
exp_dir=""               # default exp/<head>
test_sets="test"         # "dev test" for both
ctc_loss=k2              # k2 | torch
# Decoding: methods and options default to conf/decode_asr_<head>.yaml (every method of the
# head); a value given here overrides the conf's.
methods=""
lm_scales=""             # CTC *-rescoring
num_paths=""             # CTC nbest*, transducer fast_beam_search_nbest_LG
search_beam=""           # CTC graph search
output_beam=""
max_active_states=""
beam_size=""             # transducer modified_beam_search
beam=""                  # transducer fast_beam_search*
max_contexts=""
max_states=""
ngram_lm_scales=""       # transducer fast_beam_search_nbest_LG: LG weights

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
check_int num_utterances max_number seed num_jobs vocab_size
for name in max_update num_paths max_active_states beam_size max_contexts max_states; do
  [ -z "${!name}" ] || check_int "$name"
done
for name in lm_scales ngram_lm_scales search_beam output_beam beam; do
  [ -z "${!name}" ] || check_numbers "$name"
done
check_choice allow_bad_data true false
check_choice model_type char unigram bpe
check_choice per_language true false
check_choice modified_ctc true false
check_choice head ctc transducer
check_choice ctc_loss k2 torch
[[ $lm_orders =~ ^[1-9](,[1-9])?$ ]] \
  || die "--lm-orders must be comma-separated orders FIRST_PASS[,RESCORE] such as 3,4 (graphs from the first, rescoring with the second), got '$lm_orders'"
first_pass_order=${lm_orders%%,*}  # G_<first>_gram.pt -> LG, HLG (stage 3)
rescore_order=${lm_orders##*,}     # G_<rescore>_gram.pt -> *-rescoring (stage 5)
[[ $test_sets =~ ^[[:space:]]*[A-Za-z0-9_.-]+([[:space:]]+[A-Za-z0-9_.-]+)*[[:space:]]*$ ]] \
  || die "--test-sets must be names of splits separated by spaces (e.g. \"dev test\"), got '$test_sets'"

if [ "$model_type" = char ]; then lang_dir=data/lang_char; else lang_dir=data/lang_bpe_${vocab_size}; fi
case "$head" in
  ctc) all_methods=ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring ;;
  transducer) all_methods=greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG ;;
esac
[ -n "$exp_dir" ] || exp_dir=exp/$head
decode_conf=conf/decode_asr_$head.yaml
[ -n "$methods" ] || methods=$($PYTHON -c 'import sys, yaml; print(",".join(yaml.safe_load(open(sys.argv[1]))["methods"]))' "$decode_conf")
for m in ${methods//,/ }; do
  [[ ,$all_methods, == *,$m,* ]] || die "--methods: '$m' is not a method of --head $head (choose from $all_methods)"
done
# lang dir files each method reads, beyond the tokenizer (stage 3 makes the graphs)
graph_files=()
[[ ,$methods, =~ ,(1best|nbest|nbest-rescoring|whole-lattice-rescoring), ]] && graph_files+=(HLG.pt)
[[ ,$methods, == *-rescoring* ]] && graph_files+=("G_${rescore_order}_gram.pt")
[[ ,$methods, == *,fast_beam_search_nbest_LG,* ]] && graph_files+=(LG.pt)

k2_found=""
have_k2() {  # true when $PYTHON imports k2 (asked once)
  [ -n "$k2_found" ] || k2_found=$($PYTHON -c "import k2" 2>/dev/null && echo yes || echo no)
  [ "$k2_found" = yes ]
}
in_range() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
if in_range 4 && ! have_k2; then
  [ "$head" = ctc ] || die "--head transducer needs k2 (k2's pruned RNN-T loss): use the k2 lane (.venv/)"
  [ "$ctc_loss" = torch ] || die "--ctc-loss k2 needs k2: use the k2 lane (.venv/) or --ctc-loss torch"
fi
if in_range 5 && [ ${#graph_files[@]} -gt 0 ] && ! have_k2; then
  die "--methods $methods: graph decoding needs k2 (use the k2 lane (.venv/), or --methods ${all_methods%%,*})"
fi

# ------------------------------------------------- the inputs of each stage (its fingerprint)
fp_corpus() {
  stage_fingerprint num_utterances="$num_utterances" languages="$languages" \
    max_number="$max_number" seed="$seed" -- data/corpus/.complete data/corpus/metadata.jsonl
}
fp_manifests() { stage_fingerprint -- data/corpus/metadata.jsonl; }
fp_lang() {
  local opts=(model_type="$model_type" per_language="$per_language" lm_orders="$lm_orders")
  [ "$model_type" = char ] || opts+=(vocab_size="$vocab_size")
  stage_fingerprint "${opts[@]}" -- data/manifests/numbers_cuts_train.jsonl.gz data/corpus/lm_text
}
fp_graphs() {
  stage_fingerprint modified_ctc="$modified_ctc" -- \
    "$lang_dir"/{tokens.txt,words.txt,L_disambig.pt,"G_${first_pass_order}_gram.pt"}
}
fp_model() {  # what the checkpoints in $exp_dir are of: another model when it changes
  local opts=(head="$head" lang_dir="$lang_dir" encoder_preset="$encoder_preset"
              xlsr_checkpoint="$xlsr_checkpoint")
  [ "$head" = transducer ] || opts+=(ctc_loss="$ctc_loss")
  stage_fingerprint "${opts[@]}" -- data/manifests/numbers_cuts_{train,dev}.jsonl.gz \
    "$lang_dir"/{tokens.txt,tokenizer,text_norm.json} "conf/train_asr_$head.yaml"
}
# the training's inputs: the model's and --max-update (a larger one resumes the run)
fp_train() { fp_model; echo "option max_update=$max_update"; }
fp_decode() {  # fp_decode TEST_SET: options, test cuts, lang dir files, the trained model
  local files=("data/manifests/numbers_cuts_$1.jsonl.gz" "$lang_dir"/{tokens.txt,words.txt,tokenizer,text_norm.json})
  local f
  for f in ${graph_files[@]+"${graph_files[@]}"}; do files+=("$lang_dir/$f"); done
  stage_fingerprint lang_dir="$lang_dir" methods="$methods" ${decode_opts[@]+"${decode_opts[@]}"} -- \
    "${files[@]}" "$decode_conf" "$exp_dir/.done" "$exp_dir"/*.pt
}
if [ "$head" = ctc ]; then
  decode_names=(lm_scales num_paths search_beam output_beam max_active_states)
else
  decode_names=(beam_size beam max_contexts max_states ngram_lm_scales num_paths)
fi
decode_opts=()  # the decoding options given on the command line (the conf has the rest)
for name in "${decode_names[@]}"; do
  [ -z "${!name}" ] || decode_opts+=("$name=${!name}")
done
mkdir -p exp/log

# ------------------------------------------------------------------------------ the stages
if run_stage 0 "synthesise the numbers corpus"; then
  if stage_is_done data/corpus/.done "$(fp_corpus)"; then
    log "data/corpus is up to date (data/corpus/.done), skipping"
  else
    rm -f data/corpus/.done
    slog=$(stage_log 0)
    $PYTHON local/synthesize_numbers.py --corpus-dir data/corpus --num-utterances "$num_utterances" \
      --languages "$languages" --max-number "$max_number" --seed "$seed" --num-jobs "$num_jobs" \
      2>&1 | tee -a "$slog"
    mark_done data/corpus/.done "$(fp_corpus)"
  fi
fi

# check_data LOG: validate_data on the cuts of every split; stops on cuts that would be
# dropped unless --allow-bad-data true (then data/manifests/.bad_data names the report).
check_data() {
  local report=data/manifests/validate_data.json rc=0
  $PYTHON -m xlsr.bin.validate_data data/manifests/numbers_cuts_{train,dev,test}.jsonl.gz \
    --json "$report" 2>&1 | tee -a "$1" || rc=$?
  if [ $rc -eq 1 ] && [ "$allow_bad_data" = true ]; then
    log "WARNING: validate_data found cuts that will be skipped (report: $report); going on (--allow-bad-data true)" | tee -a "$1"
    echo "$report" >data/manifests/.bad_data
  elif [ $rc -eq 1 ]; then
    die "validate_data found cuts that would be dropped (report: $report, log: $1): fix the corpus, or pass --allow-bad-data true to skip them"
  elif [ $rc -ne 0 ]; then
    die "validate_data failed (exit $rc, log: $1)"
  fi
}

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
    check_data "$slog"
    mark_done data/manifests/.done "$(fp_manifests)"
  fi
fi

if run_stage 2 "tokenizer, lexicon, L and n-gram LMs in $lang_dir"; then
  fp=$(fp_lang)
  if stage_is_done "$lang_dir/.lang.done" "$fp"; then
    log "$lang_dir is up to date ($lang_dir/.lang.done), skipping"
  else
    require_done data/manifests/.done "$(fp_manifests)" "data/manifests is not finished: run stage 1"
    [ ! -f "$lang_dir/.lang.done" ] || log "$lang_dir: $(stage_changes "$lang_dir/.lang.done" "$fp"); rebuilding"
    rm -f "$lang_dir/.lang.done" "$lang_dir/.graphs.done"
    slog=$(stage_log 2)
    extra=()
    [ "$per_language" = true ] && extra+=(--per-language)
    $PYTHON local/prepare_lang.py --lang-dir "$lang_dir" \
      --cuts data/manifests/numbers_cuts_train.jsonl.gz --lm-text-dir data/corpus/lm_text \
      --model-type "$model_type" --vocab-size "$vocab_size" "${extra[@]+"${extra[@]}"}" \
      2>&1 | tee -a "$slog"
    # LM text: every number of the domain spelled out, plus the training transcripts, both
    # through the lang dir's text normaliser
    $PYTHON local/prepare_lm_text.py --lang-dir "$lang_dir" \
      --cuts data/manifests/numbers_cuts_train.jsonl.gz --lm-text-dir data/corpus/lm_text \
      --out data/lm/lm_text.txt 2>&1 | tee -a "$slog"
    $PYTHON local/train_lm.py --lang-dir "$lang_dir" --text data/lm/lm_text.txt \
      --orders "$lm_orders" 2>&1 | tee -a "$slog"
    mark_done "$lang_dir/.lang.done" "$fp"
  fi
fi

if run_stage 3 "graphs LG, HLG and HLG.fst in $lang_dir"; then
  if ! have_k2; then
    log "WARNING: k2 is not installed: no graphs (HLG/LG decoding needs the k2 lane, .venv/)"
  elif stage_is_done "$lang_dir/.graphs.done" "$(fp_graphs)"; then
    log "graphs in $lang_dir are up to date ($lang_dir/.graphs.done), skipping"
  else
    require_done "$lang_dir/.lang.done" "$(fp_lang)" "$lang_dir is unfinished or from other inputs: run stage 2"
    rm -f "$lang_dir/.graphs.done"
    slog=$(stage_log 3)
    extra=()
    [ "$modified_ctc" = true ] && extra+=(--modified-ctc)
    $PYTHON local/compile_graphs.py --lang-dir "$lang_dir" --lm-orders "$lm_orders" \
      "${extra[@]+"${extra[@]}"}" \
      2>&1 | tee -a "$slog"
    mark_done "$lang_dir/.graphs.done" "$(fp_graphs)"
  fi
fi

if run_stage 4 "train the $head model in $exp_dir"; then
  fp=$(fp_train)
  if stage_is_done "$exp_dir/.done" "$fp"; then
    log "$exp_dir is trained from these inputs ($exp_dir/.done), skipping"
  else
    require_done "$lang_dir/.lang.done" "$(fp_lang)" "$lang_dir is unfinished or from other inputs: run stage 2"
    # $exp_dir/.inputs: the inputs of the training in $exp_dir, written before it starts
    model_fp=$(fp_model)
    if [ -d "$exp_dir" ] && [ -n "$(ls -A "$exp_dir")" ] && ! stage_is_done "$exp_dir/.inputs" "$model_fp"; then
      why=$(stage_changes "$exp_dir/.inputs" "$model_fp")
      stale=$(move_aside "$exp_dir")
      log "WARNING: $exp_dir was trained from other inputs, not resuming it: moved it to $stale ($why)"
    fi
    rm -f "$exp_dir/.done"
    mark_done "$exp_dir/.inputs" "$model_fp"
    slog=$(stage_log 4)
    extra=()
    [ -n "$xlsr_checkpoint" ] && extra+=(--xlsr-checkpoint "$xlsr_checkpoint")
    [ "$head" = ctc ] && extra+=(--ctc-loss "$ctc_loss")
    [ -n "$max_update" ] && extra+=(--max-update "$max_update")
    # an interrupted run of the same inputs resumes from the newest checkpoint in $exp_dir
    $PYTHON -m xlsr.bin.train --task "asr_$head" --config "conf/train_asr_$head.yaml" --lang-dir "$lang_dir" \
      --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \
      --valid-cuts data/manifests/numbers_cuts_dev.jsonl.gz --exp-dir "$exp_dir" \
      --encoder-preset "$encoder_preset" "${extra[@]+"${extra[@]}"}" 2>&1 | tee -a "$slog"
    mark_done "$exp_dir/.done" "$fp"
  fi
fi

if run_stage 5 "decode and score ($methods)"; then
  for t in $test_sets; do
    [ -f "data/manifests/numbers_cuts_$t.jsonl.gz" ] \
      || die "--test-sets: no manifest data/manifests/numbers_cuts_$t.jsonl.gz for test set '$t' (stage 1 makes train, dev and test)"
  done
  require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
  if [ ${#graph_files[@]} -gt 0 ]; then
    require_done "$lang_dir/.graphs.done" "$(fp_graphs)" "the graphs in $lang_dir are unfinished or stale: run stage 3"
  fi
  args=()
  for kv in ${decode_opts[@]+"${decode_opts[@]}"}; do
    k=${kv%%=*}
    args+=("--${k//_/-}" "${kv#*=}")
  done
  slog=""
  for t in $test_sets; do
    marker=$exp_dir/decode/.done-$t
    fp=$(fp_decode "$t")
    if stage_is_done "$marker" "$fp"; then
      log "$t already decoded with this model and these options ($marker), skipping"
      continue
    fi
    rm -f "$marker"
    [ -n "$slog" ] || slog=$(stage_log 5)
    $PYTHON -m xlsr.bin.decode --task "asr_$head" --config "$decode_conf" --exp-dir "$exp_dir" \
      --lang-dir "$lang_dir" --cuts "data/manifests/numbers_cuts_$t.jsonl.gz" --test-set "$t" \
      --methods "$methods" ${args[@]+"${args[@]}"} 2>&1 | tee -a "$slog"
    log "$t: $(sed -n 3p "$exp_dir/decode/summary-$t.txt")" | tee -a "$slog"
    mark_done "$marker" "$fp"
  done
fi

log "Done (stages $stage..$stop_stage)"
