#!/usr/bin/env bash
# Regenerates what the README shows: the sweep's printed table and plots, and the outlier fits.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf docs/sweep
jaxloss sweep --quiet --out docs/sweep | tee docs/sweep.txt
python examples/compare_losses.py --plot docs/compare_losses.png > /dev/null
