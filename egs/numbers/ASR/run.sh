#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Multilingual spoken-numbers ASR (the embedded corpus, synthesised with espeak-ng).
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs    -> data/manifests/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst         -> data/lang_bpe_<vocab_size>/
#   stage 4: train the model: --head ctc (k2 CTC loss) or transducer (k2 pruned RNN-T loss)
#                                                   -> exp/<head>/
#   stage 5: decode dev and test with every method of the head, score -> exp/<head>/decode/
# Finished stages are skipped (.done markers); each stage logs to exp/log/.
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number --languages --seed
#   --num-jobs --vocab-size --model-type --per-language --lm-orders --modified-ctc --head
#   --encoder-preset --xlsr-checkpoint --max-update --exp-dir --methods --test-sets
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
vocab_size=500
model_type=char          # char | unigram | bpe (char learns fastest for the tiny encoder)
per_language=false       # one tokenizer per language (token table = union)
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc | transducer (conf/train_<head>.yaml)
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""             # default: conf/train_<head>.yaml (ctc 1600, transducer 3200)
exp_dir=""               # default exp/<head>
methods=""               # default: every method of the head
test_sets="test"         # "dev test" for both
# CTC decoding
ctc_loss=k2              # k2 | torch
lm_scales=0.1,0.3,0.5,0.7,1.0
num_paths=100            # n-best paths (CTC nbest*, transducer fast_beam_search_nbest_LG)
search_beam=12
output_beam=5
max_active_states=2000
# transducer decoding
beam_size=4              # modified_beam_search
beam=20                  # fast_beam_search*: search beam
max_contexts=8
max_states=64
ngram_lm_scales=0.01,0.1,0.3   # fast_beam_search_nbest_LG: LG weights

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

if [ "$model_type" = char ]; then lang_dir=data/lang_char; else lang_dir=data/lang_bpe_${vocab_size}; fi
case "$head" in
  ctc) all_methods=ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring ;;
  transducer) all_methods=greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG ;;
  *) echo "$0: --head must be ctc or transducer, got '$head'" >&2; exit 1 ;;
esac
[ -n "$exp_dir" ] || exp_dir=exp/$head
if [ "$head" = transducer ] && [ "$stop_stage" -ge 4 ] && ! $PYTHON -c "import k2" 2>/dev/null; then
  echo "$0: --head transducer needs k2 (k2's pruned RNN-T loss): use the k2 lane (.venv/)" >&2
  exit 1
fi
[ -n "$methods" ] || methods=$all_methods
mkdir -p exp/log

if run_stage 0 "synthesise the numbers corpus"; then
  $PYTHON local/synthesize_numbers.py --corpus-dir data/corpus --num-utterances "$num_utterances" \
    --languages "$languages" --max-number "$max_number" --seed "$seed" --num-jobs "$num_jobs" 2>&1 | tee exp/log/stage0.log
fi

if run_stage 1 "lhotse manifests and Kaldi data dirs"; then
  if [ -f data/manifests/.done ] && [ data/manifests/.done -nt data/corpus/metadata.jsonl ]; then
    log "data/manifests is up to date, skipping"
  else
    $PYTHON local/prepare_numbers.py --corpus-dir data/corpus --output-dir data/manifests \
      2>&1 | tee exp/log/stage1.log
    touch data/manifests/.done
  fi
fi

if run_stage 2 "tokenizer, lexicon, L and n-gram LMs in $lang_dir"; then
  if [ -f "$lang_dir/.lang.done" ] && [ "$lang_dir/.lang.done" -nt data/manifests/.done ]; then
    log "$lang_dir is up to date, skipping"
  else
    extra=()
    [ "$per_language" = true ] && extra+=(--per-language)
    $PYTHON local/prepare_lang.py --lang-dir "$lang_dir" \
      --cuts data/manifests/numbers_cuts_train.jsonl.gz --lm-text-dir data/corpus/lm_text \
      --model-type "$model_type" --vocab-size "$vocab_size" "${extra[@]+"${extra[@]}"}" \
      2>&1 | tee exp/log/stage2.log
    # LM text: every number of the domain spelled out, plus the training transcripts
    mkdir -p data/lm
    cat data/corpus/lm_text/*.txt > data/lm/lm_text.txt
    gunzip -c data/manifests/numbers_supervisions_train.jsonl.gz \
      | $PYTHON -c 'import sys, json; [print(json.loads(l)["text"]) for l in sys.stdin]' \
      >> data/lm/lm_text.txt
    $PYTHON local/train_lm.py --lang-dir "$lang_dir" --text data/lm/lm_text.txt \
      --orders "$lm_orders" 2>&1 | tee -a exp/log/stage2.log
    touch "$lang_dir/.lang.done"
  fi
fi

if run_stage 3 "graphs LG, HLG and HLG.fst in $lang_dir"; then
  if [ -f "$lang_dir/.graphs.done" ] && [ "$lang_dir/.graphs.done" -nt "$lang_dir/.lang.done" ]; then
    log "graphs in $lang_dir are up to date, skipping"
  else
    extra=()
    [ "$modified_ctc" = true ] && extra+=(--modified-ctc)
    $PYTHON local/compile_graphs.py --lang-dir "$lang_dir" "${extra[@]+"${extra[@]}"}" \
      2>&1 | tee exp/log/stage3.log
    touch "$lang_dir/.graphs.done"
  fi
fi

if run_stage 4 "train the $head model in $exp_dir"; then
  if [ -f "$exp_dir/.done" ]; then
    log "$exp_dir is trained, skipping (delete $exp_dir/.done to train again)"
  else
    extra=()
    [ -n "$xlsr_checkpoint" ] && extra+=(--xlsr-checkpoint "$xlsr_checkpoint")
    [ "$head" = ctc ] && extra+=(--ctc-loss "$ctc_loss")
    [ -n "$max_update" ] && extra+=(--max-update "$max_update")
    # an interrupted run resumes from the newest checkpoint in $exp_dir
    $PYTHON -m xlsr.bin.train_$head --config conf/train_$head.yaml --lang-dir "$lang_dir" \
      --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \
      --valid-cuts data/manifests/numbers_cuts_dev.jsonl.gz --exp-dir "$exp_dir" \
      --encoder-preset "$encoder_preset" "${extra[@]+"${extra[@]}"}"
    touch "$exp_dir/.done"
  fi
fi

if run_stage 5 "decode and score ($methods)"; then
  if [ "$head" = ctc ]; then
    opts=(--lm-scales "$lm_scales" --num-paths "$num_paths" --search-beam "$search_beam"
          --output-beam "$output_beam" --max-active-states "$max_active_states")
  else
    opts=(--beam-size "$beam_size" --beam "$beam" --max-contexts "$max_contexts"
          --max-states "$max_states" --ngram-lm-scales "$ngram_lm_scales" --num-paths "$num_paths")
  fi
  for t in $test_sets; do
    # a finished decode of the same model and options is skipped
    key=$(echo "$methods ${opts[*]}" | md5sum | cut -c1-8)
    marker="$exp_dir/decode/.done-$t-$key"
    if [ -f "$marker" ] && [ "$marker" -nt "$exp_dir/.done" ]; then
      log "$t already decoded with these options, skipping"
      continue
    fi
    $PYTHON -m xlsr.bin.decode_$head --exp-dir "$exp_dir" --lang-dir "$lang_dir" \
      --cuts "data/manifests/numbers_cuts_$t.jsonl.gz" --test-set "$t" --methods "$methods" \
      "${opts[@]}"
    log "$t: $(sed -n 3p "$exp_dir/decode/summary-$t.txt")"
    touch "$marker"
  done
fi

log "Done (stages $stage..$stop_stage)"
