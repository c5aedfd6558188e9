#!/usr/bin/env bash
# Run the OCI distribution-spec conformance suite against a replica set: three `dockyard serve` replicas on
# one fresh PostgreSQL database and moto's S3 server on loopback (blob GETs: 307 to presigned URLs), behind
# the round-robin proxy of the tests (tests/replicas/proxy.py: every request to the next replica).
#
# usage: CONFORMANCE_BIN=/path/to/conformance.test scripts/conformance-replicas.sh [REPORT_DIR]
# env:   DOCKYARD_AUTH   iam (default here: an account from `dockyard admin init`, a registry password from
#                        GetAuthorizationToken, OCI_USERNAME=AWS OCI_PASSWORD=<password>) or none
#        DOCKYARD_ARGS   extra `dockyard serve` flags for every replica (e.g. "--server uvicorn --workers 2")
#        REPLICAS        number of replicas (default 3)
#        TEST_POSTGRES_SERVER  default postgresql://postgres@127.0.0.1:5432; the script creates a database
#                        dockyard_conformance_<random> there and drops it on exit
#        OCI_AUTOMATIC_CROSSMOUNT (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CONFORMANCE_BIN:?set CONFORMANCE_BIN to the distribution-spec conformance test binary}"
REPORT_DIR="$(mkdir -p "${1:-conformance-results/replicas}" && cd "${1:-conformance-results/replicas}" && pwd)"
WORK="$(mktemp -d -t dockyard-conformance-replicas.XXXXXX)"
PY=.venv/bin/python
PG="${TEST_POSTGRES_SERVER:-postgresql://postgres@127.0.0.1:5432}"
DB="dockyard_conformance_$(head -c 5 /dev/urandom | od -An -tx1 | tr -d ' \n')"
AUTH="${DOCKYARD_AUTH:-iam}"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sql() { "$PY" - "$PG/postgres" "$1" <<'PY'
import asyncio, sys
import asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=5)
    try:
        await conn.execute(sys.argv[2])
    finally:
        await conn.close()
asyncio.run(main())
PY
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# S3: moto's server on loopback, one bucket.
S3_PORT="$(free_port)"
.venv/bin/moto_server -H 127.0.0.1 -p "$S3_PORT" >"$REPORT_DIR/moto.log" 2>&1 &
PIDS+=($!)
"$PY" - "http://127.0.0.1:$S3_PORT" <<'PY'
import sys, time
import boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(300):
    try:
        s3.create_bucket(Bucket="conformance")
        break
    except Exception:
        time.sleep(0.1)
else:
    raise SystemExit("moto did not start")
PY

# PostgreSQL: a fresh database (migrated by the first replica, serialised by an advisory lock).
sql "CREATE DATABASE $DB TEMPLATE template0"
export DOCKYARD_DATABASE_URL="$PG/$DB"
DOCKYARD_SECRET_KEYS="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export DOCKYARD_SECRET_KEYS DOCKYARD_AUTH="$AUTH"
export DOCKYARD_STORAGE=s3 DOCKYARD_S3_BUCKET=conformance DOCKYARD_S3_PREFIX=registry/
export DOCKYARD_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT" DOCKYARD_S3_REGION=us-east-1
export DOCKYARD_S3_ADDRESSING_STYLE=path DOCKYARD_S3_ACCESS_KEY_ID=test DOCKYARD_S3_SECRET_ACCESS_KEY=test
export DOCKYARD_REDIRECT=true

if [ "$AUTH" = iam ]; then
  .venv/bin/dockyard admin init --data-dir "$WORK/admin" --json >"$WORK/root.json"
fi
UPSTREAMS=()
for i in $(seq "${REPLICAS:-3}"); do
  port="$(free_port)"
  # shellcheck disable=SC2086
  .venv/bin/dockyard serve --data-dir "$WORK/r$i" --port "$port" ${DOCKYARD_ARGS:-} \
    >"$REPORT_DIR/replica-$i.log" 2>&1 &
  PIDS+=($!)
  UPSTREAMS+=("http://127.0.0.1:$port")
  # one at a time: the first migrates the schema and creates the shared server keys
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "replica $i did not start"; exit 1; }
done
PORT="$(free_port)"
"$PY" tests/replicas/proxy.py --port "$PORT" "${UPSTREAMS[@]}" >"$REPORT_DIR/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
echo "replicas ${UPSTREAMS[*]} behind http://127.0.0.1:$PORT; database $DB; S3 http://127.0.0.1:$S3_PORT"

source "$(dirname "$0")/conformance-lib.sh"
run_conformance
