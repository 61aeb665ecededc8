#!/usr/bin/env bash
# Issue 7 on the lent H200, one call of at most 10 minutes: resume MLM pretraining from a carried
# Lightning checkpoint, then fine-tune the promoter head on the result (see RESULTS.md):
#   bash benchmarks/pretrain_on_device.sh MAX_STEPS MAX_TIME sweep|final
# MAX_STEPS is the run's total (the cosine schedule decays to 0 there), MAX_TIME the total training time
# over all calls (Lightning's timer is restored from the checkpoint), e.g. 00:00:11:00.
# Carried (git-ignored): .whl/ (wheels), .gpu_data/data/reference/ (chr20), .gpu_data/resume.ckpt,
# .gpu_data/promoters/ (the two TSVs); for `final` also .gpu_data/best.json (from a `sweep` call).
# $OUT gets the new model, the new resume.ckpt in 15 MB parts, and results.tar.gz (logs, metrics, tables);
# `final` adds the seed-0 promoter model.
set -u
export GENOSPARSE_TRITON_AUTOTUNE=0
max_steps=$1 max_time=$2 stage=$3
source benchmarks/device_setup.sh
mkdir -p /tmp/results /tmp/data/promoters && cp .gpu_data/promoters/*.tsv /tmp/data/promoters/
start=$(date +%s)
timeout 380 python3 -m genosparse.cli.main train experiment=pretrain data.fasta=.gpu_data/data/reference/20.fa.gz \
  ckpt_path=.gpu_data/resume.ckpt task.lr_schedule=cosine trainer.max_steps="$max_steps" trainer.max_time="$max_time" \
  data.max_shift=65536 data.num_workers=4 trainer.enable_progress_bar=false output_dir=/tmp/pre > /tmp/results/pretrain.log 2>&1
echo "pretrain exit $? after $(( $(date +%s) - start )) s"; tail -3 /tmp/results/pretrain.log
cp /tmp/pre/checkpoint/model.safetensors "$OUT"/ && cp /tmp/pre/checkpoint/config.json /tmp/pre/logs/metrics.csv \
  /tmp/pre/training_curves.png /tmp/results/
split -b 15M "$(ls -t /tmp/pre/logs/checkpoints/*.ckpt | head -1)" "$OUT"/resume.ckpt.part-
case $stage in
  sweep) timeout 150 python3 benchmarks/promoter_finetune.py --data-dir /tmp/data --init-from /tmp/pre/checkpoint \
           --stages sweep --out /tmp/ft --parallel 12 > /tmp/results/sweep.txt 2>&1; status=$? ;;
  final) timeout 140 python3 benchmarks/promoter_finetune.py --data-dir /tmp/data --init-from /tmp/pre/checkpoint \
           --stages final --settings .gpu_data/best.json --seeds 0 1 2 --out /tmp/ft > /tmp/results/final.txt 2>&1
         status=$?
         cp /tmp/ft/final/seed0/checkpoint/model.safetensors "$OUT"/promoter_model.safetensors
         cp /tmp/ft/final/seed0/checkpoint/config.json /tmp/results/promoter_config.json
         cp /tmp/ft/final/seed0/logs/metrics.csv /tmp/results/promoter_metrics.csv ;;
esac
echo "$stage exit $status after $(( $(date +%s) - start )) s"
tar -czf "$OUT"/results.tar.gz --exclude '*.safetensors' /tmp/results /tmp/ft
grep -E "^\||^best|^mean|^final|^sweep" /tmp/results/"$stage".txt
