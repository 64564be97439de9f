#!/usr/bin/env bash
# README command 1: set everything up, synthesize a short demo meeting and turn it into minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export MINUTA_HOME="${MINUTA_HOME:-$HOME/.cache/minuta}"
# Where the joined weights and derived models go (the settings' cache_dir).
export MINUTA_CACHE_DIR="${MINUTA_CACHE_DIR:-$MINUTA_HOME}"
VENV="${MINUTA_VENV:-$MINUTA_HOME/venv}"
demo="$MINUTA_HOME/demo/demo_meeting.wav"
"$VENV/bin/python" scripts/make_demo_meeting.py samples/demo_meeting.json "$demo"
"$VENV/bin/minuta" process "$demo" --format md -o demo_minutes.md
"$VENV/bin/minuta" process "$demo" --format json -o demo_minutes.json --quiet --no-minutes
echo
cat demo_minutes.md
echo
echo "Done. Process your own recording with: $VENV/bin/minuta process meeting.m4a --format md"
