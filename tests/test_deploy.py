"""The deployment files, read as Docker and nginx would read them (no Docker engine runs
in CI): the compose stack's PostgreSQL connection budget fits max_connections, /metrics
is not public through the proxy, the issuer is the proxy's URL, and the build context
leaves out secrets and local environments but keeps what the Dockerfile copies."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import yaml

from tests.support import ROOT

SUPERUSER_RESERVED = 3  # PostgreSQL's default superuser_reserved_connections


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def default_of(value: str) -> str:
    """`${NAME:-default}` → `default`, as Compose substitutes an unset variable."""
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.*)\}", value)
    assert match, f"{value!r} has no default"
    return match.group(1)


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_connection_budget_fits_max_connections() -> None:
    stack = compose()
    budget, server = stack["x-connection-budget"], stack["services"]["server"]
    env = server["environment"]
    workers = int(option(server["command"], "--workers"))
    pool, overflow = int(default_of(env["DB_POOL_SIZE"])), int(default_of(env["DB_MAX_OVERFLOW"]))
    settings = dict(part.split("=", 1) for part in stack["services"]["db"]["command"] if "=" in part)
    max_connections = int(settings["max_connections"])
    replicas = budget["max_replicas"]
    # per worker: the engine's pool and overflow, and the hot statements' own pool (DB_POOL_SIZE)
    total = replicas * workers * (pool + overflow + pool) + replicas \
        + budget["cli_commands"] * budget["connections_per_cli_command"]
    assert total <= max_connections - SUPERUSER_RESERVED
    comment = (ROOT / "docker-compose.yml").read_text()
    assert f"= {total} ≤ max_connections {max_connections}" in comment  # the comment's sum is this one


def test_metrics_are_not_served_through_the_proxy() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = re.sub(r"#.*", "", conf)
    block = re.search(r"location\s*=\s*/metrics\s*\{([^}]*)\}", conf)
    assert block, "nginx.conf has no exact location for /metrics"
    assert re.search(r"\bdeny\s+all\s*;", block.group(1)) and "proxy_pass" not in block.group(1)


def test_the_issuer_is_the_proxys_address() -> None:
    stack = compose()
    issuer = default_of(stack["services"]["server"]["environment"]["JWT_ISSUER"])
    published, container = stack["services"]["proxy"]["ports"][0].split(":")
    listen = re.search(r"listen\s+(\d+);", (ROOT / "deploy" / "nginx.conf").read_text())
    assert listen and listen.group(1) == container
    assert issuer == f"http://127.0.0.1:{published}"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").removeprefix("**/")
        parts = path.split("/")
        if any(fnmatch.fnmatch("/".join(parts[: i + 1]), bare) or fnmatch.fnmatch(parts[i], bare)
               for i in range(len(parts))):
            ignored = not negate
    return ignored


def test_the_build_context_leaves_out_secrets_and_keeps_what_the_image_needs() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for secret in (".env", ".env.production", ".venv", ".venv-lowest", "authserver.db", "authserver.db-wal",
                   ".git", "app/__pycache__", "bench/results"):
        assert dockerignored(secret, patterns), secret
    copied = [source for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") and "--from" not in line for source in line.split()[1:-1]]
    assert copied and "app" in copied and "migrations" in copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, patterns), source
