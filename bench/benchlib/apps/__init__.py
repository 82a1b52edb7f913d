"""The reference servers of the protected and peers rows, each served by uvicorn from the
bench venv. Each answers /healthz (readiness) and /protected with small JSON; the peers
also hand out a token of their own at /bench-token (benchmark setup only)."""
