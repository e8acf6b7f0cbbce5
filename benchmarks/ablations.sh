#!/usr/bin/env bash
# The TF-VAEGAN ablations on the demo dataset, each from a parameter change alone, run from the
# cached features of a previous `make run` (so every variant sees the same features).
# Prints a Markdown table of both protocols. Usage: bash benchmarks/ablations.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KEDRO=${KEDRO:-.venv/bin/kedro}
declare -A VARIANTS=(
  ["1 baseline VAE-GAN"]="tfvaegan.use_decoder=false,tfvaegan.use_feedback=false,tfvaegan.classifier_input=x"
  ["2 + semantic decoder"]="tfvaegan.use_feedback=false,tfvaegan.classifier_input=x"
  ["3 + feedback"]="tfvaegan.classifier_input=x"
  ["4 + discriminative features (TF-VAEGAN)"]="tfvaegan.classifier_input=x_dec_h"
)
echo "| variant | --params | final ZSL T1 | final u | final s | final H | best-on-test ZSL T1 | best-on-test H |"
echo "|---|---|---|---|---|---|---|---|"
for name in $(printf '%s\n' "${!VARIANTS[@]}" | sort | tr ' ' '~'); do
  name=${name//\~/ }
  params=${VARIANTS[$name]}
  "$KEDRO" run --pipelines=tfvaegan --from-nodes=train_generative_model --to-nodes=evaluate \
    --params "$params" > "/tmp/ablation_${name%% *}.log" 2>&1
  latest=$(ls -d data/local/08_reporting/tfvaegan_metrics.json/* | sort | tail -1)
  python3 - "$latest/tfvaegan_metrics.json" "$name" "$params" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
f, b = m["final"], m["best_on_test"]
pct = lambda v: f"{100 * v:.1f}"
print(f"| {sys.argv[2][2:]} | `{sys.argv[3]}` | {pct(f['zsl_t1'])} | {pct(f['gzsl_u'])} | {pct(f['gzsl_s'])} | "
      f"{pct(f['gzsl_h'])} | {pct(b['zsl_t1'])} | {pct(b['gzsl_h'])} |")
PY
done
