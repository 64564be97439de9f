#!/usr/bin/env bash
# README command 2: install what is missing, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export MINUTA_HOME="${MINUTA_HOME:-$HOME/.cache/minuta}"
# Where the joined weights and derived models go (the settings' cache_dir).
export MINUTA_CACHE_DIR="${MINUTA_CACHE_DIR:-$MINUTA_HOME}"
VENV="${MINUTA_VENV:-$MINUTA_HOME/venv}"
CODE=(core services ml_controller training entrypoints testkit tests benchmarks scripts)
"$VENV/bin/ruff" check "${CODE[@]}"
"$VENV/bin/ruff" format --check "${CODE[@]}"
"$VENV/bin/mypy"
# The layers: core below, services | ml_controller beside each other, entry points on top.
"$VENV/bin/lint-imports"
# Known vulnerabilities in the installed packages (reports, and passes, if no data is reachable).
"$VENV/bin/python" scripts/audit_deps.py
"$VENV/bin/python" -m pytest tests "$@"
