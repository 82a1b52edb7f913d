#!/usr/bin/env bash
# Set up and run the whole test suite: once on SQLite, once on PostgreSQL.
# PostgreSQL: TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) must
# allow CREATE DATABASE; each run makes a scratch database and drops it. Without a
# reachable PostgreSQL that run skips with the reason, except in CI (CI=true), where it fails.
source "$(dirname "$0")/_venv.sh"
extra=()
[ -f authclient/pyproject.toml ] && extra=(-e ./authclient)  # the client package, tested here too
ensure_venv -e '.[test]' "${extra[@]}"
echo "== type check (mypy --strict)"
.venv/bin/python -m mypy
if [ "${CI:-}" = "true" ] && ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ] &&
   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing pgbouncer from Debian (for the PgBouncer transaction-mode test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null
fi
status=0
echo "== test suite on SQLite"
TEST_DATABASE=sqlite .venv/bin/python -m pytest "$@" || status=$?
echo "== test suite on PostgreSQL"
TEST_DATABASE=postgresql .venv/bin/python -m pytest "$@" || status=$?
exit "$status"
