# shellcheck shell=bash
# Source me: starts FerretDB and Toxiproxy on free loopback ports and creates a
# fresh PostgreSQL database; exports MONGO_URL, PG_URL and TOXIPROXY_URL; defines
# test_env_cleanup.
#   source scripts/test-env.sh && trap test_env_cleanup EXIT

_TEST_ENV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_test_env_fail() { echo "test-env.sh: $*" >&2; return 1; }

_test_env_free_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });
  '
}

_test_env_setup() {
  local pg_host=127.0.0.1 pg_port=5432 pg_user=postgres

  # --- PostgreSQL reachable? (try starting the local cluster once) ---
  if ! psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    echo "test-env.sh: PostgreSQL not reachable, trying to start cluster" >&2
    local ver
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
    if [ -n "$ver" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || true
    fi
    local i
    for i in $(seq 1 30); do
      psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -Atqc 'select 1' >/dev/null 2>&1 && break
      sleep 0.5
    done
    psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -Atqc 'select 1' >/dev/null \
      || { _test_env_fail "cannot connect to PostgreSQL at $pg_host:$pg_port as $pg_user"; return 1; }
  fi

  TEST_ENV_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/transact-test.XXXXXX")" || return 1
  export TEST_ENV_TMPDIR

  # --- FerretDB on a free loopback port ---
  local port
  port="$(_test_env_free_port)" || { _test_env_fail "could not pick a free port"; return 1; }
  TEST_ENV_FERRET_DIR="$TEST_ENV_TMPDIR/ferretdb"
  "$_TEST_ENV_ROOT/scripts/ferretdb.sh" start "$TEST_ENV_FERRET_DIR" "$port" \
    || { _test_env_fail "FerretDB failed to start"; return 1; }
  export MONGO_URL="mongodb://127.0.0.1:$port/transact_test"

  # --- Toxiproxy (network faults between one process and a database) on a free loopback port ---
  port="$(_test_env_free_port)" || { _test_env_fail "could not pick a free port"; return 1; }
  TEST_ENV_TOXIPROXY_DIR="$TEST_ENV_TMPDIR/toxiproxy"
  "$_TEST_ENV_ROOT/scripts/toxiproxy.sh" start "$TEST_ENV_TOXIPROXY_DIR" "$port" \
    || { _test_env_fail "Toxiproxy failed to start"; return 1; }
  export TOXIPROXY_URL="http://127.0.0.1:$port"

  # --- fresh PostgreSQL database ---
  TEST_ENV_PG_DB="transact_test_$(node -e 'process.stdout.write(require("crypto").randomBytes(6).toString("hex"))')"
  psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$TEST_ENV_PG_DB\"" >&2 \
    || { _test_env_fail "could not create database $TEST_ENV_PG_DB"; return 1; }
  export PG_URL="postgres://$pg_user@$pg_host:$pg_port/$TEST_ENV_PG_DB"

  echo "test-env.sh: MONGO_URL=$MONGO_URL PG_URL=$PG_URL TOXIPROXY_URL=$TOXIPROXY_URL" >&2
}

test_env_cleanup() {
  if [ -n "${TEST_ENV_FERRET_DIR:-}" ]; then
    "$_TEST_ENV_ROOT/scripts/ferretdb.sh" stop "$TEST_ENV_FERRET_DIR" || true
  fi
  if [ -n "${TEST_ENV_TOXIPROXY_DIR:-}" ]; then
    "$_TEST_ENV_ROOT/scripts/toxiproxy.sh" stop "$TEST_ENV_TOXIPROXY_DIR" || true
  fi
  if [ -n "${TEST_ENV_PG_DB:-}" ]; then
    # the suites' own databases (test/support/targets.ts names them <run database>_<id>)
    local db
    for db in $(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE '${TEST_ENV_PG_DB}\_%'" 2>/dev/null); do
      psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$TEST_ENV_PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$TEST_ENV_PG_DB\"" >/dev/null 2>&1 || true
  fi
  if [ -n "${TEST_ENV_TMPDIR:-}" ] && [ -d "$TEST_ENV_TMPDIR" ]; then
    rm -rf "$TEST_ENV_TMPDIR"
  fi
  unset TEST_ENV_FERRET_DIR TEST_ENV_TOXIPROXY_DIR TEST_ENV_PG_DB TEST_ENV_TMPDIR
}

if ! _test_env_setup; then
  test_env_cleanup
  return 1 2>/dev/null || exit 1
fi
