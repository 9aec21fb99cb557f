#!/usr/bin/env bash
# The GPU checks of issues 4 and 5, as one script for a lent GPU machine (one H100 call).
#
#   bash scripts/gpu_checks.sh OUT_DIR [REAL_DATA_DIR]
#
# 0. Part "preptest": tests/inference/test_torch_preprocess.py on the GPU (the device
#    pre-processing gives the numpy reference's inputs; the pipeline's results agree).
# 1. Issue 5: scripts/bench_pipeline.py on the torch CUDA backend (fp16 autocast), the paper
#    config and the compact config, random weights (timing only: no trained paper weights
#    exist), a 120-slice 512x512 study, batch 8 and 16 (compact: the first only), median of 3 runs,
#    each with the backend's GPU pre-processing and, in the same process, with numpy's
#    (--compare-preprocessing).
#    Part "proposals": the paper config once more with 100/10 RPN proposals before/after NMS
#    (torchvision's default 1000/1000 is what part "pipeline" times; the compact config runs
#    100/10 since this session: no accuracy lost on E7, see scripts/detector_proposal_sweep.py)
#    at the first batch size, so the GPU effect of the change is measured.
#    Then scripts/profile_torch_backend.py on the paper config at the first batch size: the exported
#    detector against eager torch, the grader per batch, and the profiler's top operators.
# 2. Issue 4: scripts/grader_sweep.py: grader variants trained side by side on the
#    recipe's generated studies, compared on the synthetic test set and on the hand-labelled
#    real slices (REAL_DATA_DIR: a folder with the shared chest_abdomen_slices and
#    thorax_philips_j2k).
#
# Python packages the GPU image lacks travel as wheels in .whl/ (see the device README).
# GPU_CHECK_PARTS="pipeline", "proposals", "profile" or "sweep" runs those parts only (profile
# and proposals need pipeline's study and export); GPU_CHECK_BATCHES="16 32" sets the paper
# config's batch sizes; GPU_CHECK_CONFIGS="paper" skips the compact networks.
# GPU_CHECK_SMOKE=1 runs the same steps at toy sizes on any machine (to test this script).
set -uo pipefail
out=${1:?usage: gpu_checks.sh OUT_DIR [REAL_DATA_DIR]}
real=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
py=${PYTHON:-python3}
if ! "$py" -c "import pydicom, pylibjpeg" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/gpu-site:$here
else
  export PYTHONPATH=$here
fi

# Whole-script budget (seconds): the sweep's training gets what the benchmark leaves,
# less the time its data generation and evaluation need.
budget=${GPU_CHECK_BUDGET:-550}
if [[ ${GPU_CHECK_SMOKE:-0} == 1 ]]; then
  configs=(tiny) slices=12 size=128 batches=(4) repeats=1 reserve=60
  sweep=(--train-studies 4 --test-studies 2 --render-slices 8 --epochs 1 --parallel 2 --workers 0)
else
  configs=(paper compact) slices=120 size=512 batches=(16 8) repeats=3 reserve=100
  sweep=(--parallel 6 --workers 2)
fi

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  "$py" -c "import torch, torchvision, onnxruntime as o; print('torch', torch.__version__, \
'torchvision', torchvision.__version__, 'onnxruntime', o.__version__, o.get_available_providers(), \
'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
  nproc
} 2>&1 | tee "$out/machine.txt"

parts=${GPU_CHECK_PARTS:-preptest pipeline proposals profile sweep}
read -r -a batches <<< "${GPU_CHECK_BATCHES:-${batches[*]}}"
read -r -a configs <<< "${GPU_CHECK_CONFIGS:-${configs[*]}}"
if [[ $parts == *preptest* ]]; then
echo "=== 0. device pre-processing against numpy's, on the GPU (issue 5)"
MSCC_TEST_TORCH_DEVICE=${PREPTEST_DEVICE:-cuda} timeout 240 "$py" -m pytest -q -p no:cacheprovider \
  tests/inference/test_torch_preprocess.py 2>&1 | tail -15 | tee "$out/preptest.txt"
fi
if [[ $parts == *pipeline* ]]; then
echo "=== 1. pipeline benchmark (issue 5)"
"$py" -c "import sys; sys.path.insert(0, 'scripts'); import bench_pipeline as b; \
from pathlib import Path; b.write_study(Path('/tmp/gpu-study'), n_slices=$slices, size=$size)"
for cfg in "${configs[@]}"; do
  timeout 150 "$py" scripts/bench_pipeline.py --random-export "$cfg" --export-to "/tmp/rx-$cfg" \
    2>&1 | tail -3
  for batch in "${batches[@]}"; do
    timeout 120 "$py" scripts/bench_pipeline.py --model "/tmp/rx-$cfg/random-$cfg" \
      --checkpoints "/tmp/rx-$cfg/detector.ckpt" "/tmp/rx-$cfg/grader.ckpt" --grade-all \
      --study /tmp/gpu-study --slices "$slices" --size "$size" --backends torch-cuda --batch-size "$batch" --repeats "$repeats" \
      --no-baseline --compare-preprocessing --json "$out/pipeline_${cfg}_b${batch}.json" 2>&1 \
      | tee -a "$out/pipeline.txt"
    [[ $cfg == compact ]] && break  # one batch size is enough for the compact networks
  done
done
fi
if [[ $parts == *proposals* ]]; then
echo "=== 1a. ${configs[0]} config with 100/10 detector proposals (issue 5), $SECONDS s in"
cfg=${configs[0]} batch=${batches[0]}
timeout 150 "$py" scripts/bench_pipeline.py --random-export "$cfg" --export-to "/tmp/rx-$cfg-p10" \
  --detector-set rpn_pre_nms_top_n_test=100 --detector-set rpn_post_nms_top_n_test=10 2>&1 | tail -3
timeout 120 "$py" scripts/bench_pipeline.py --model "/tmp/rx-$cfg-p10/random-$cfg" \
  --checkpoints "/tmp/rx-$cfg-p10/detector.ckpt" "/tmp/rx-$cfg-p10/grader.ckpt" --grade-all \
  --study /tmp/gpu-study --slices "$slices" --size "$size" --backends torch-cuda --batch-size "$batch" \
  --repeats "$repeats" --no-baseline --compare-preprocessing \
  --json "$out/pipeline_${cfg}_p10_b${batch}.json" 2>&1 \
  | tee -a "$out/pipeline.txt"
fi
if [[ $parts == *profile* ]]; then
echo "=== 1b. torch backend profile (issue 5), $SECONDS s into the script"
timeout 200 "$py" scripts/profile_torch_backend.py --model "/tmp/rx-${configs[0]}/random-${configs[0]}" \
  --checkpoints "/tmp/rx-${configs[0]}/detector.ckpt" "/tmp/rx-${configs[0]}/grader.ckpt" \
  --study /tmp/gpu-study --batch-size "${batches[0]}" --repeats "$repeats" \
  --device "${PROFILE_DEVICE:-cuda}" --json "$out/profile.json" 2>&1 | grep -v "^\(USDT\|ERROR\):" \
  | tee "$out/profile.txt"

fi

if [[ $parts == *sweep* ]]; then
echo "=== 2. grader sweep (issue 4), $SECONDS s into the script"
limit=$((budget - SECONDS - reserve))
(( limit < 60 )) && limit=60
real_arg=()
[[ -n $real ]] && real_arg=(--real-data "$real")
timeout $((limit + reserve)) "$py" scripts/grader_sweep.py --work /tmp/gpu-sweep \
  "${real_arg[@]}" "${sweep[@]}" --time-limit "$limit" --device "${SWEEP_DEVICE:-auto}" \
  --variant e5 \
  --variant shape=augmentation:ct_shape \
  --variant soft=augmentation:ct_soft \
  --variant shape_soft=augmentation:ct_shape_soft \
  --variant shape_soft_m25=augmentation:ct_shape_soft,crop_margin:0.25 \
  --variant m25=crop_margin:0.25 \
  --json "$out/sweep.json" 2>&1 | tee "$out/sweep.txt"
fi
echo "=== done $(date -u)"
