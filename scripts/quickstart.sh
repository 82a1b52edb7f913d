#!/usr/bin/env bash
# Set up and start the server on its embedded SQLite default, with a demo user.
# Usage: bash scripts/quickstart.sh   (PORT=8000 HOST=127.0.0.1 by default)
source "$(dirname "$0")/_venv.sh"
ensure_venv -e .
.venv/bin/python -m app migrate
# A fresh generated password for the demo user at every start; it is printed, never stored.
if ! .venv/bin/python -m app users create demo --generate-password 2>/dev/null; then
  .venv/bin/python -m app users set-password demo --generate-password
fi
cat <<MSG

  Log in as 'demo' with the password above, e.g.:
    curl -s -X POST http://${HOST:-127.0.0.1}:${PORT:-8000}/user/oauth/token \\
      -d grant_type=password -d username=demo -d password=PASSWORD
  Interactive docs: http://${HOST:-127.0.0.1}:${PORT:-8000}/docs

MSG
exec .venv/bin/python -m app serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
