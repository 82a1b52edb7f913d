"""The resource-server helper, for other FastAPI services, ships in the authclient
distribution as `authclient.resource` (`pip install './authclient[resource]'`): a service
imports it without this server, whose package name `app` would collide with the
service's own `app/` and whose import would pull in its database and hashing libraries.

This module re-exports it so `from app.api.resource_server import ResourceServer` keeps
working wherever authclient[resource] is installed beside the server (as in this
repository's development environment); new code imports `authclient.resource`.
"""

from __future__ import annotations

try:
    from authclient.resource import (
        AccessClaims,
        HttpJwksFetcher,
        JwksFetcher,
        JwtVerifier,
        RemoteKeySet,
        ResourceServer,
    )
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        "the resource-server helper is authclient.resource: pip install './authclient[resource]' "
        f"from a checkout of the token server ({exc.name} is missing)",
        name=exc.name,
    ) from None

__all__ = ["AccessClaims", "HttpJwksFetcher", "JwksFetcher", "JwtVerifier", "RemoteKeySet", "ResourceServer"]
