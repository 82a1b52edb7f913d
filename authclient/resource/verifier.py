"""The checks the token server makes on its own access tokens, minus the session:
signature by `kid`, type, `iss`, `aud`, `exp`/`iat` with leeway.

Stateless, so a logout reaches it only when the access token expires; a service that must
see revocation at once introspects the token (`POST /oauth/introspect`) instead.

It verifies asymmetric signatures only: a JWKS publishes public keys, and a token server
signing with a shared secret (`JWT_ALGORITHM=HS256`, its default, or HS384/HS512)
publishes none, so every token is refused with the generic 401. That is a deployment
mistake, not a bad token, so the first sign of it is explained in the log, once.
"""

from __future__ import annotations

import logging

from authclient.resource.errors import InvalidToken
from authclient.resource.keys import ASYMMETRIC_ALGORITHMS, RemoteKeySet
from authclient.resource.tokens import AccessClaims, Clock, SystemClock, decode_access_token, read_header

log = logging.getLogger("authclient.resource")

SYMMETRIC_HINT = (
    "cannot verify tokens of the token server at %s: %s. This helper verifies signatures "
    "with the public keys of the server's JWKS, which a server signing with a shared secret "
    "(JWT_ALGORITHM=HS256, its default, or HS384/HS512) does not publish: every token is "
    "refused with 401 until the server runs with JWT_ALGORITHM set to one of %s"
)


class JwtVerifier:
    def __init__(
        self, keys: RemoteKeySet, *, issuer: str, audience: str, clock: Clock | None = None, leeway: float = 5
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock or SystemClock()
        self._leeway = leeway
        self._explained = False

    async def verify(self, token: str) -> AccessClaims:
        header = read_header(token)
        if header.alg.upper().startswith("HS"):  # never looked up: no JWKS holds such a key
            self._explain(f"a token signed with {header.alg}, a shared-secret algorithm")
            raise InvalidToken()
        key = await self.keys.key(header.kid) if header.kid else None
        if key is None and self.keys.empty:
            self._explain("its JWKS holds no public signing key")
        if key is None or header.alg != key.algorithm:
            raise InvalidToken()
        return decode_access_token(
            token, key=key.key, algorithm=key.algorithm, issuer=self._issuer, audience=self._audience,
            clock=self._clock, leeway=self._leeway,
        )

    def _explain(self, what: str) -> None:
        if not self._explained:
            self._explained = True
            log.warning(SYMMETRIC_HINT, self.keys.url, what, ", ".join(ASYMMETRIC_ALGORITHMS))
