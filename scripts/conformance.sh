#!/usr/bin/env bash
# Run the OCI distribution-spec conformance suite against a fresh Dockyard on loopback.
#
# The suite's test binary is not part of this repository: build it from opencontainers/distribution-spec
# (tag v1.1.1, directory conformance/, as its README describes) and point CONFORMANCE_BIN at it.
#
# usage: CONFORMANCE_BIN=/path/to/conformance.test scripts/conformance.sh [REPORT_DIR]
# env:   DOCKYARD_ARGS   extra `dockyard serve` flags (e.g. "--server uvicorn --workers 2")
#        DOCKYARD_AUTH   none (default here: anonymous /v2/) or iam: the script creates an account with
#                        `dockyard admin init`, asks GetAuthorizationToken for a registry password and runs
#                        the suite with OCI_USERNAME=AWS OCI_PASSWORD=<password> (every request authorised)
#        OCI_AUTOMATIC_CROSSMOUNT (default 1), OCI_USERNAME / OCI_PASSWORD (passed through)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CONFORMANCE_BIN:?set CONFORMANCE_BIN to the distribution-spec conformance test binary}"
REPORT_DIR="$(mkdir -p "${1:-conformance-results}" && cd "${1:-conformance-results}" && pwd)"
WORK="$(mktemp -d -t dockyard-conformance.XXXXXX)"
PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

AUTH="${DOCKYARD_AUTH:-none}"
if [ "$AUTH" = iam ]; then
  .venv/bin/dockyard admin init --data-dir "$WORK/data" --json >"$WORK/root.json"
fi
# shellcheck disable=SC2086
DOCKYARD_AUTH="$AUTH" .venv/bin/dockyard serve --data-dir "$WORK/data" --port "$PORT" ${DOCKYARD_ARGS:-} \
  >"$REPORT_DIR/dockyard.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
PY=.venv/bin/python
source "$(dirname "$0")/conformance-lib.sh"
run_conformance
