# Sourced by the run_on_device.sh and pretrain_on_device.sh scripts on the lent GPU machine: installs the
# wheels carried in .whl/ (the packages the image lacks), maps kernels/ and conf/ into the package as
# pyproject.toml does, and prints the GPU and library versions.
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out} XDG_CACHE_HOME=/tmp/cache
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:. || exit 1
ln -sfn ../kernels genosparse/kernels && ln -sfn ../conf genosparse/conf
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton, lightning; print('torch', torch.__version__, 'triton', triton.__version__, 'lightning', lightning.__version__)"
