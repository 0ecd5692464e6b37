#!/usr/bin/env bash
# The cuda checks the issues ask for, as one prepared script for a machine with a GPU (tests never
# need one). Writes each output under $OUT (or ./gpu-checks) as well as to the terminal.
#   bash benchmarks/gpu_checks.sh
set -u
out=${OUT:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$(pwd)
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
# gdtui.watch on cuda: bit-identical to the unwatched loop, nothing synchronises.
timeout 50 python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_watch.py -k cuda 2>&1 | tail -3 | tee "$out/watch_test.txt"
# watch overhead on cuda, under torch.cuda.set_sync_debug_mode("error").
timeout 60 python3 benchmarks/watch_overhead.py --device cuda --sync-debug --seconds 1 --repeats 2 2>&1 | tee "$out/watch_cuda.txt"
# model runs on cuda: records land in chunks, no sync per step; engine vs plain loop.
if [ -f benchmarks/model_cuda_check.py ]; then
  timeout 80 python3 benchmarks/model_cuda_check.py 2>&1 | tee "$out/model_cuda.txt"
fi
