#!/usr/bin/env bash
# The README's main job, end to end on CPU (~7 min): generate the synthetic
# optical / quad-pol SAR dataset (Delta-SN6 layout, GeoTIFF with a CRS), train a tiny
# STSF-Net, evaluate it with the MMCD metrics and write one picture per test tile
# (+ georeferenced prediction GeoTIFFs).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
CONFIG=configs/stsf/stsf_tiny_synthetic-sn6.py
WORK_DIR=${WORK_DIR:-work_dirs/demo}

"$PYTHON" tools/dataset_converters/make_synthetic_sn6.py data/synthetic-sn6 --num-tiles 64 --size 128
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR"
"$PYTHON" tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" --work-dir "$WORK_DIR" --show-dir vis
echo "Pictures: $(ls -d "$WORK_DIR"/*/vis | tail -n 1)"
