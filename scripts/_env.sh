# Shared by demo.sh and test.sh: create ./.venv (Python >= 3.9) and install the project with the given extras.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EYEATLAS_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
install_project() {  # $1: extras, e.g. "test" or "" for the runtime only
  local spec="$REPO"
  [ -n "${1:-}" ] && spec="$REPO[$1]"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
}
