#!/usr/bin/env bash
# Every GPU check and benchmark of a session in one command on the lent H200 (see RESULTS.md).
# The machine has torch, triton, lightning; pysam, pyfaidx and biopython travel as wheels in .whl/,
# chr20, the call sets and a demo checkpoint in .gpu_data/ (both git-ignored, named in `carry`).
set -u
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:. || exit 1
ln -sfn ../kernels genosparse/kernels   # the package-dir mapping of pyproject.toml, without installing
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
python3 benchmarks/gpu_check.py > $OUT/gpu_check.txt 2>&1; tail -22 $OUT/gpu_check.txt
python3 benchmarks/layout_memory.py 2>&1 | tee $OUT/layout_memory.txt
python3 benchmarks/attention.py --lengths 131072 --dims 64 128 --patterns window bigbird dilated --budget-s 150 \
  > $OUT/attention.txt 2>&1; grep -E "^\| (window|bigbird|dilated|dense)" $OUT/attention.txt
python3 benchmarks/vep_throughput.py --checkpoint .gpu_data/ckpt --data .gpu_data/data --device cuda 2>&1 | tee $OUT/vep.txt | tail -8
python3 benchmarks/train_triton.py --steps 30 > $OUT/train.txt 2>&1; tail -6 $OUT/train.txt
