#!/usr/bin/env bash
# One command: set up ./.venv with the test extras and run the whole test suite (pytest arguments are passed on,
# e.g. scripts/test.sh -m "not slow" for the fast set). Real-head tests need ../shared/data beside the repository.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
install_project "test"
cd "$REPO"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  # pytest's "no tests collected": fine when the caller's selection matched nothing, an error for the full suite.
  if [ "$#" -gt 0 ]; then
    echo "no test matched the selection: $*" >&2
    exit 0
  fi
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
