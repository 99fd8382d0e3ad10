#!/usr/bin/env bash
# The accelerator check of issue 14 (item 4): the main job and the extraction benchmark, each on the
# accelerator and on the CPU, and the ratio of their wall times (cpu / accelerator).
#
#   tests/gpu/check.sh [DEVICE] [quick]     DEVICE: cuda (default), cuda:N or mps
#
# "quick" runs the tiny forms (a few hundred images, 2 epochs) to check the script itself in a minute.
# Not part of the default test command (pytest collects no file here). Expected to take a few minutes on a
# 16-core machine with one GPU; the dataset is generated once first, so neither side pays for it.
# A machine without the device stops at once with proxybench's one-line error.
set -euo pipefail
dev=${1:-cuda}
if [ "${2:-}" = quick ]; then
    bench=tiny
    run_args=(--backbone resnet10t --weights random --budget 60 --param R=10 --param epochs=2 --param k=5
              --param train_per_domain=120 --param test_per_domain=40 --param distractors=80)
else
    bench=full run_args=()
fi
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
export PROXYBENCH_CACHE_DIR=${PROXYBENCH_CACHE_DIR:-$work/cache} PROXYBENCH_PROGRESS=0

python -c "import sys; from proxybench.ml.accelerator import resolve, available
try:
    print('devices:', ', '.join(available())); resolve(sys.argv[1])
except Exception as e:
    sys.exit(f'check.sh: {e}')" "$dev"
[ "$bench" = tiny ] || python -c "from proxybench import Cache, RunSpec; from proxybench.contract.registry import registry
registry().create('dataset', RunSpec().dataset).load(Cache())"  # the embedded dataset, generated once before timing

for d in cpu "$dev"; do
    start=$EPOCHREALTIME
    proxybench run --sampler ecos --task autolabel "${run_args[@]}" --torch-device "$d" \
        --results-dir "$work/run-${d/:/_}" > "$work/run-${d/:/_}.txt"
    echo "$start $EPOCHREALTIME" > "$work/run-${d/:/_}.seconds"
    PROXYBENCH_BENCH=$bench PROXYBENCH_TORCH_DEVICE=$d python -m pytest -q -p no:cacheprovider --benchmark-enable \
        --benchmark-json="$work/extract-${d/:/_}.json" tests/benchmarks/test_bench_extraction.py > /dev/null
done

python - "$work" cpu "${dev/:/_}" <<'PY'
import json, sys
from pathlib import Path

work, sides = Path(sys.argv[1]), sys.argv[2:]
runs = {s: json.loads(next((work / f"run-{s}").glob("*.json")).read_text()) for s in sides}
wall = {}
for s in sides:
    start, end = map(float, (work / f"run-{s}.seconds").read_text().split())
    wall[s] = end - start
bench = {s: json.loads((work / f"extract-{s}.json").read_text())["benchmarks"][0] for s in sides}
cpu, acc = sides
print(f"\nmain job: proxybench run --sampler ecos --task autolabel (warm dataset, cold features)")
for s in sides:
    r, env = runs[s], runs[s]["environment"]
    print(f"  {s:>8}: {wall[s]:7.1f} s wall  accuracy {r['metrics']['accuracy']:.4f}  "
          f"in-domain share {r['selection']['in_domain_share']:.3f}  device {env['torch_device']} "
          f"{env.get('torch_device_name') or ''}  stages {r['timings']}")
print(f"  ratio cpu / {acc}: {wall[cpu] / wall[acc]:.2f}")
print(f"extraction benchmark: {bench[cpu]['extra_info'].get('size')}")
for s in sides:
    print(f"  {s:>8}: {bench[s]['stats']['min']:7.3f} s  ({bench[s]['extra_info']['images_per_s']} images/s)")
print(f"  ratio cpu / {acc}: {bench[cpu]['stats']['min'] / bench[acc]['stats']['min']:.2f}")
print(f"determinism on {acc}: {json.dumps(runs[acc]['environment'].get('torch_determinism'), indent=2)}")
PY
echo "records and outputs: $work"
