#!/usr/bin/env bash
# Set up and run the whole test suite: once on SQLite, once on PostgreSQL, then the unit and
# API tests once more on SQLite with every direct dependency at the lowest version
# pyproject.toml allows (in .venv-lowest, made with uv --resolution lowest-direct).
# PostgreSQL: TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) must
# allow CREATE DATABASE; each run makes a scratch database and drops it. Without a
# reachable PostgreSQL that run skips with the reason, except in CI (CI=true), where it fails.
# LOWEST=skip leaves out the lowest-versions run (not in CI). Any pytest run that fails, or
# collects no test (exit code 5), makes this script fail.
source "$(dirname "$0")/_venv.sh"
extra=()
[ -f authclient/pyproject.toml ] && extra=(-e './authclient[resource]')  # the client package and its resource-server extra, tested here too
ensure_venv -e '.[test]' "${extra[@]}"
echo "== type check (mypy --strict)"
.venv/bin/python -m mypy
if [ "${CI:-}" = "true" ] && ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ] &&
   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing pgbouncer from Debian (for the PgBouncer transaction-mode test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null
fi
if [ "${CI:-}" = "true" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } &&
   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing chromium and chromium-driver from Debian (for the browser test of /docs)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
fi
status=0
run_pytest() {  # run_pytest LABEL PYTHON ARGS...: pytest, remembering a failure (exit 5 included)
  local label=$1 python=$2 rc=0
  shift 2
  "$python" -m pytest "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    echo "error: the $label run collected no test (pytest exit code 5)" >&2
  fi
  [ "$rc" = 0 ] || { echo "error: the $label run failed (pytest exit code $rc)" >&2; status=$rc; }
}
echo "== test suite on SQLite"
TEST_DATABASE=sqlite run_pytest SQLite .venv/bin/python "$@"
echo "== test suite on PostgreSQL"
TEST_DATABASE=postgresql run_pytest PostgreSQL .venv/bin/python "$@"
if [ "${LOWEST:-}" = skip ] && [ "${CI:-}" != "true" ]; then
  echo "== lowest-versions run skipped (LOWEST=skip)"
else
  echo "== unit and API tests on SQLite, direct dependencies at their lowest allowed versions"
  lowest_venv -e '.[test]' "${extra[@]}"
  VIRTUAL_ENV="$PWD/.venv-lowest" .venv/bin/uv pip list --quiet 2>/dev/null |
    grep -iE '^(fastapi|starlette|pydantic|sqlalchemy|pyjwt|asyncpg|redis|pytest) ' | tr -s ' ' | paste -sd, - || true
  TEST_DATABASE=sqlite run_pytest lowest-versions .venv-lowest/bin/python \
    tests/unit tests/api -q -p no:cacheprovider
fi
exit "$status"
