#!/usr/bin/env bash
# Regenerates the locks from pyproject.toml: every dependency, transitive ones included, pinned with
# sha256 hashes. Run after changing a dependency, and commit pyproject.toml and requirements/ together:
#   bash scripts/lock.sh            # re-resolve only what pyproject.toml changed
#   bash scripts/lock.sh --upgrade  # take the newest allowed versions (see scripts/drift_report.py)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_UV="${MINUTA_VENV:-$HOME/.cache/minuta/venv}/bin/uv"
# The lock's own uv first: another version may resolve differently.
UV="${UV:-$([ -x "$VENV_UV" ] && echo "$VENV_UV" || command -v uv)}"
# The CPU torch wheel is not on the default index: point at a folder or index that has it.
TORCH_LINKS="${MINUTA_TORCH_FIND_LINKS:-/opt/wheels}"
common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --no-header --no-emit-find-links --quiet "$@")
# CPU install: the product, its tests and training/ (what scripts/install.sh installs).
"$UV" pip compile pyproject.toml --extra dev --extra train --find-links "$TORCH_LINKS" \
  "${common[@]}" -o requirements/lock-cpu.txt
# GPU image: vLLM and pyannote.audio with CUDA torch from the default index (built elsewhere).
"$UV" pip compile pyproject.toml --extra gpu "${common[@]}" -o requirements/lock-gpu.txt
echo "wrote requirements/lock-cpu.txt ($(grep -c '^[a-z0-9]' requirements/lock-cpu.txt) packages)" \
     "and requirements/lock-gpu.txt ($(grep -c '^[a-z0-9]' requirements/lock-gpu.txt) packages)"
