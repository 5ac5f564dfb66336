#!/usr/bin/env bash
# Study 1: the main comparisons -- every model on ML-1M-CD and on Amazon Art/Office, 3 seeds,
# full budget, through configs/<suite>/<model>.yaml. Finished runs are cached under runs/bench,
# so re-running this script after an interruption resumes where it stopped.
# Writes results/ml1m-cd/ and results/amazon-ao/, then regenerates the README Results section.
set -euo pipefail
cd "$(dirname "$0")/.."
GNNREC=${GNNREC:-.venv/bin/gnnrec}
MODELS=${MODELS:-pop,mf,lightgcn,cd-lightgcn,cd-lightgcn-text,text-only,emcdr,bitgcf,hgt}
SEEDS=${SEEDS:-3}
"$GNNREC" benchmark --suite ml1m-cd --models "$MODELS" --seeds "$SEEDS" --quiet
"$GNNREC" benchmark --suite amazon-ao --models "$MODELS" --seeds "$SEEDS" --quiet
"$GNNREC" benchmark --readme
