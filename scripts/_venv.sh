# Sourced by the other scripts: find Python 3.11+, make .venv, install what is asked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

pick_lowest_python() {  # the oldest Python pyproject.toml allows (3.11) where there is one
  if command -v python3.11 >/dev/null 2>&1; then command -v python3.11; else command -v "$(pick_python)"; fi
}

ensure_venv() {  # ensure_venv 'spec' ...: pip install the specs into .venv
  if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"
}

# lowest_venv 'spec' ...: a fresh .venv-lowest holding the specs with every direct
# dependency at the LOWEST version pyproject.toml allows (uv's --resolution lowest-direct),
# so the lower bounds are tested, not just written. Made anew each time: a venv kept from
# an older pyproject.toml would test the old bounds. uv comes from PyPI into .venv.
lowest_venv() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5'
  local uv=.venv/bin/uv
  rm -rf .venv-lowest
  UV_PYTHON_DOWNLOADS=never "$uv" venv --quiet --python "$(pick_lowest_python)" .venv-lowest
  VIRTUAL_ENV="$PWD/.venv-lowest" UV_PYTHON_DOWNLOADS=never \
    "$uv" pip install --quiet --resolution lowest-direct "$@"
}
