#!/usr/bin/env bash
# The benchmark's entry point (see bench/README.md):
#   bash bench/run.sh [--head] [--quick] [--phases refresh,protected,login,rss] [--reps N]
#   bash bench/run.sh ab BASE_REV [HEAD_REV] [--rows ...] [--reps N] [--quick]
# It prepares what the benchmark needs and nothing of the project's own environment:
#   - wrk from Debian's packages, installed if missing (needs root then);
#   - bench/.venv with the server (editable, from this checkout) and the password-hash
#     libraries the hash-time reference verifies with.
# Then runs python -m benchlib (the table, in bench/results/results.md) or bench/ab.py.
#
# --head (first argument) measures the last commit instead of the working tree: a
# `git archive HEAD` copy in bench/.snapshot is installed instead, so edits in progress
# in app/ neither break nor colour the run.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
VENV="$BENCH/.venv"
PYTHON="${PYTHON:-python3}"
SRC="$REPO"
export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"  # named atop the report

if [[ "${1:-}" == "--head" ]]; then
  shift
  SRC="$BENCH/.snapshot"
  rm -rf "$SRC" && mkdir -p "$SRC"
  git -C "$REPO" archive HEAD | tar -x -C "$SRC"
  export BENCH_SERVER_COMMIT="$(git -C "$REPO" rev-parse --short HEAD) (committed tree, --head)"
fi

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

pip_q() {  # pip, quiet; its log is shown only if it fails
  "$VENV/bin/pip" "$@" >"$VENV/pip.log" 2>&1 || { cat "$VENV/pip.log"; exit 1; }
}

stamp="$VENV/.installed"
if [[ ! -f "$stamp" || "$BENCH/run.sh" -nt "$stamp" ]]; then
  echo "preparing $VENV"
  "$PYTHON" -m venv "$VENV"
  pip_q install --upgrade pip
  pip_q install -e "$SRC" argon2-cffi bcrypt
  echo "$SRC" > "$stamp"
fi
if [[ "$(cat "$stamp")" != "$SRC" || "$SRC/pyproject.toml" -nt "$stamp" || "$SRC" != "$REPO" ]]; then
  echo "installing the server from $SRC into $VENV"  # a snapshot is always fresh
  pip_q install -e "$SRC"
  echo "$SRC" > "$stamp"
fi

cd "$BENCH"
if [[ "${1:-}" == "ab" ]]; then
  shift
  exec "$VENV/bin/python" "$BENCH/ab.py" "$@"
fi
exec "$VENV/bin/python" -m benchlib "$@"
