#!/usr/bin/env bash
# One command: set up ./.venv, generate the SYNTHETIC demo atlas and subject, segment both eyes, write outputs.
# Usage: scripts/demo.sh [OUT_DIR]   (default: ./demo_output)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
install_project "report"   # matplotlib draws qc.png
OUT="${1:-$REPO/demo_output}"
"$VENV/bin/eye-atlas-segment" demo --out "$OUT"
