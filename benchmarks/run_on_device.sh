#!/usr/bin/env bash
# The GPU checks and benchmarks of a session on the lent H200 (see RESULTS.md), in one or two calls:
#   bash benchmarks/run_on_device.sh [patterns] [check] [attention] [kernels] [track] [shipped] [full]
#   (default: patterns check attention track)
# `kernels` (issue 14, about 4 minutes): every pattern against FlexAttention and dense cuDNN (benchmarks/kernels.py).
# `full` (issue 13, about 3 minutes): saturation mutagenesis with and without GS_EMB, 20.vcf.gz, ISM and a 2.88 Mb
# score at 131,072 bases with the shipped chr20-mlm (benchmarks/full_context.py); details in $OUT/full_context/.
# The machine has torch, triton, lightning; pysam, pyfaidx, biopython and pyBigWig travel as wheels in
# .whl/, chr20 and a demo checkpoint in .gpu_data/ (both git-ignored, named in `carry`).
set -u
steps=${*:-patterns check attention track}
source benchmarks/device_setup.sh
for step in $steps; do
  echo "== $step"
  case $step in
    patterns) timeout 280 python3 benchmarks/patterns.py --dims 64 128 > $OUT/patterns.txt 2>&1
              grep -E "^\|" $OUT/patterns.txt | tail -26 ;;
    check) timeout 290 python3 benchmarks/gpu_check.py > $OUT/gpu_check.txt 2>&1
           grep -E "FAIL|passed,|GPU check" $OUT/gpu_check.txt | tail -15 ;;
    attention) timeout 200 python3 benchmarks/attention.py --lengths 131072 --dims 64 --patterns window bigbird \
                 --budget-s 120 > $OUT/attention.txt 2>&1; grep -E "^\| (window|bigbird|dense)" $OUT/attention.txt ;;
    kernels) timeout 300 python3 benchmarks/kernels.py --lengths 131072 16384 --long --budget-s 250 \
               > $OUT/kernels.txt 2>&1; grep -E "^\||Dense|Total" $OUT/kernels.txt ;;
    track) GENOSPARSE_TRITON_AUTOTUNE=0 timeout 400 python3 -m genosparse.cli.main track --checkpoint .gpu_data/ckpt \
             --fasta .gpu_data/data/reference/20.fa.gz --out /tmp/chr20.bw --batch-size 64 --device cuda --quiet \
             2>&1 | tail -2 ;;
    shipped) # the default checkpoint, chr20-mlm, at its 131,072-base context; one call holds no more than these two
             timeout 150 python3 -m genosparse.cli.main vep --fasta .gpu_data/data/reference/20.fa.gz \
               --vcf .gpu_data/data/variants/20.vcf.gz --out $OUT/vep_20.tsv --format tsv --device cuda --quiet \
               2>&1 | tail -1
             GENOSPARSE_TRITON_AUTOTUNE=0 timeout 400 python3 -m genosparse.cli.main track \
               --fasta .gpu_data/data/reference/20.fa.gz --out /tmp/chr20_mlm.bw --device cuda --quiet 2>&1 | tail -2 ;;
    full) GENOSPARSE_TRITON_AUTOTUNE=0 timeout 230 python3 benchmarks/full_context.py --data .gpu_data/data \
            --out $OUT/full_context --profile 2>&1 | tee $OUT/full_context.txt | grep -vE "^(INFO|WARNING)" | tail -16 ;;
  esac
done
