#!/usr/bin/env bash
# Issue 12 on the lent H200, one call of at most 10 minutes each:
#   bash benchmarks/longrange_on_device.sh train MAX_TIME "ARM:MAX_STEPS ..."
#     continues the shipped chr20-mlm (task.init_from) with each attention ARM (conf/attention/<ARM>.yaml) of
#     experiment=pretrain_longrange, all arms at once on the one GPU, for MAX_TIME (e.g. 00:00:06:40);
#     then the context curve (benchmarks/context_curve.py) of chr20-mlm and every arm.
#   bash benchmarks/longrange_on_device.sh eval CHECKPOINT
#     the context curve with the public scorer's 4,096/131,072 rows, the promoter fine-tune (3 seeds) and the
#     zero-shot MPRA and baselines (benchmarks/baselines.py) of CHECKPOINT (a folder carried in .gpu_data/).
# Carried (git-ignored): .whl/ (wheels), .gpu_data/data/{reference,promoters,mpra}/ (copies of ../shared/data).
# $OUT gets results.tar.gz: logs, metrics, curves and every trained model in bf16.
set -u
export GENOSPARSE_TRITON_AUTOTUNE=0
stage=$1
source benchmarks/device_setup.sh
fasta=.gpu_data/data/reference/20.fa.gz
mkdir -p /tmp/results /tmp/models
start=$(date +%s)
case $stage in
  train)
    max_time=$2
    for spec in $3; do
      arm=${spec%%:*} steps=${spec##*:}
      python3 -m genosparse.cli.main train experiment=pretrain_longrange attention="$arm" task.init_from=chr20-mlm \
        trainer.max_steps="$steps" trainer.max_time="$max_time" data.fasta=$fasta data.num_workers=4 \
        trainer.enable_checkpointing=false trainer.enable_progress_bar=false hydra.run.dir=/tmp/run_"$arm" \
        > /tmp/results/train_"$arm".log 2>&1 &
    done
    wait
    echo "training done after $(( $(date +%s) - start )) s"
    checkpoints=(chr20-mlm)
    for spec in $3; do
      arm=${spec%%:*}
      tail -3 /tmp/results/train_"$arm".log
      cp /tmp/run_"$arm"/logs/metrics.csv /tmp/results/metrics_"$arm".csv
      cp /tmp/run_"$arm"/training_curves.png /tmp/results/curves_"$arm".png 2>/dev/null
      python3 -c "import sys, torch; from genosparse.models import load_model, save_model
save_model(load_model(sys.argv[1]), sys.argv[2], dtype=torch.bfloat16)" /tmp/run_"$arm"/checkpoint /tmp/models/"$arm"
      checkpoints+=(/tmp/models/"$arm")
    done
    timeout 150 python3 benchmarks/context_curve.py --checkpoint "${checkpoints[@]}" --fasta $fasta \
      --out /tmp/results/curve.json > /tmp/results/curve.txt 2>&1
    ;;
  eval)
    checkpoint=$2
    timeout 150 python3 benchmarks/context_curve.py --checkpoint chr20-mlm "$checkpoint" --fasta $fasta \
      --score-windows 4096 131072 --out /tmp/results/curve.json > /tmp/results/curve.txt 2>&1
    echo "curve exit $? after $(( $(date +%s) - start )) s"
    ;;
esac
echo "$stage done after $(( $(date +%s) - start )) s"
tar -czf "$OUT"/results.tar.gz /tmp/results /tmp/models
grep -E "^\|" /tmp/results/curve.txt
