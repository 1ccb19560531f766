#!/bin/sh
# Serves the stack locally, runs both test files against it, and exits with their status.
# STREAMGATE names the streamgate binary when it is not on PATH; arguments go to `streamgate
# local` (`./run-tests.sh --port 3100`).
set -eu
cd "$(dirname "$0")"
exec "${STREAMGATE:-streamgate}" local --template template.yaml "$@" \
  --run "node tests/echo.test.mjs && python3 tests/test_echo.py"
