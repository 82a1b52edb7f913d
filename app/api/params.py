"""Reading OAuth parameters the way RFC 6749 wants them read.

Form bodies (RFC 6749 §4.3.2, §6) and, as a courtesy, JSON objects of strings. A
parameter sent twice is `invalid_request` (§3.2); one sent empty counts as omitted.
Values must be text a database can store (UTF-8, no NUL), else the request is malformed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from urllib.parse import parse_qsl, unquote

from fastapi import Request

from app.api.services import services_of
from app.errors import InvalidBearerRequest, InvalidClient, InvalidRequest
from app.oauth.clients import ClientCredentials

MAX_FIELDS = 32


def text_param(name: str, value: object) -> str:
    """A parameter's value as text a database can store, else invalid_request."""
    if not isinstance(value, str):
        raise InvalidRequest(f"Parameter {_safe(name)} must be a string.")
    problem = unstorable(value)
    if problem is not None:
        raise InvalidRequest(f"Parameter {_safe(name)} {problem}.")
    return value


def unstorable(value: str) -> str | None:
    """Why neither database could store this text (both drivers raise on it), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def storable_text(value: str) -> str:
    """For path parameters (pydantic's AfterValidator): the same rule, as a 422."""
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(f"The value {problem}.")
    return value


def _safe(name: str) -> str:
    """Parameter names echoed in error_description must stay within RFC 6749's charset."""
    cleaned = "".join(c for c in name[:40] if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
    return cleaned or "?"


def parse_pairs(pairs: list[tuple[str, object]]) -> dict[str, str]:
    if len(pairs) > MAX_FIELDS:
        raise InvalidRequest("Too many parameters.")
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"Parameter {_safe(name)} is repeated.")
        seen.add(name)
        text = text_param(name, value)
        if text != "":
            params[name] = text
    return params


async def read_params(request: Request, *, allow_json: bool = True) -> dict[str, str]:
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded" or (not ctype and not body):
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The form body is malformed.") from None
        return parse_pairs(list(pairs))
    if allow_json and (ctype == "application/json" or ctype.endswith("+json")):
        return parse_pairs(list(read_json_object(body).items()))
    raise InvalidRequest("Send application/x-www-form-urlencoded parameters.")


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json's default keeps the last of repeated keys; a proxy may read the first. Like a
    repeated form parameter (RFC 6749 §3.2), a repeated key is refused, at any depth."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _RepeatedKey()
    return data


def read_json_object(body: bytes) -> dict[str, object]:
    """Every JSON body the server reads comes through here."""
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey:
        raise InvalidRequest("A key of the JSON body is repeated.") from None
    except (ValueError, RecursionError):
        raise InvalidRequest("The JSON body is malformed.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The JSON body must be an object.")
    return data


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1 HTTP Basic client authentication: id and secret, each
    form-urlencoded before the Base64. An empty secret is a public client naming itself
    (the contract's form); a malformed header or another scheme is invalid_client.
    A Basic header that names nobody (`Basic`, or the Base64 of ":", which Swagger UI's
    Authorize dialog sends when its client fields are left empty) carries no client: None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Unsupported client authentication scheme.")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("Malformed client credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    client_id, secret = unquote(client_id), unquote(secret)
    if not client_id and not secret:
        return None
    if not sep or not client_id or "\x00" in client_id + secret:
        raise InvalidClient()
    return client_id, secret


def sends_basic(request: Request) -> bool:
    """The Authorization header uses the Basic scheme. Where a route reads no other
    credentials from that header (`/login`), any other scheme is ignored, as it was
    before clients were authenticated there."""
    scheme = request.headers.get("authorization", "").strip().partition(" ")[0]
    return scheme.lower() == "basic"


def client_credentials(request: Request, params: dict[str, str], *, basic_allowed: bool = True) -> ClientCredentials:
    """Who the client says it is, by exactly one method (RFC 6749 §2.3): HTTP Basic,
    client_secret in the form, or a bare client_id (public clients). Checked against the
    registry by the domain, not here. `basic_allowed=False` where the Authorization
    header carries a bearer token (`/refresh`): the body alone names the client."""
    if len(request.headers.getlist("authorization")) > 1:
        raise InvalidRequest("Send one Authorization header.")
    basic = basic_credentials(request) if basic_allowed else None
    form_id, form_secret = params.get("client_id"), params.get("client_secret")
    if basic is not None and form_secret is not None:
        raise InvalidRequest("Use one client authentication method, not two.")
    if basic is not None and form_id and form_id != basic[0]:
        raise InvalidRequest("client_id differs between the form and the Authorization header.")
    client_id: str | None
    secret: str | None
    if basic is not None:
        client_id, secret = basic[0], basic[1] or None
    else:
        client_id, secret = form_id, form_secret
    if client_id is None and secret is not None:
        raise InvalidClient()
    if client_id is not None and (len(client_id) > 255 or not client_id.isprintable()):
        raise InvalidClient()
    return ClientCredentials(client_id=client_id, secret=secret)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header (RFC 6750 §2.1); None when the
    request carries no bearer credentials at all, "" when the header is malformed. Two
    Authorization headers are invalid_request: which one a proxy checked is unknowable."""
    value: bytes | None = None
    for name, raw in request.scope["headers"]:  # as request.headers.get would, without building Headers
        if name == b"authorization":
            if value is not None:
                raise InvalidBearerRequest("Send one Authorization header.")
            value = raw
    if value is None:
        return None
    header: str = value.decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def access_token_of(request: Request) -> str | None:
    """A protected route's token: the Authorization header alone (RFC 6750 §5.3: query
    tokens leak into logs). A token in the header and an `access_token` query parameter
    is two methods, which RFC 6750 §2 forbids: invalid_request."""
    token = bearer_token(request)
    query: bytes = request.scope["query_string"]
    if token is not None and b"access_token" in query and "access_token" in request.query_params:
        raise InvalidBearerRequest()
    return token


def client_ip(request: Request) -> str | None:
    """The caller's address for rate limits. X-Forwarded-For is believed only when the
    peer is a configured proxy (TRUSTED_PROXIES), and then read from the right: the first
    hop that is not one of our proxies is the client; anything left of it is the
    client's own claim and could be forged. A hop is parsed and normalised
    (`2001:DB8::0:1` is `2001:db8::1`); one that is no address, or too long to store
    (a scope id of any length parses), falls back to the peer: never cut into another
    address."""
    client = request.scope.get("client")  # what request.client reads, without building an Address
    peer: str | None = client[0] if client else None
    networks = services_of(request).settings.proxy_networks
    if peer is None or not networks or not _within(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, networks):
            return _address(hop) or peer
    return (_address(hops[0]) if hops else None) or peer


MAX_IP_CHARS = 64  # the ip columns of session and audit_event


def _address(value: str) -> str | None:
    """The normalised text of an IP address, or None when it is none or too long."""
    try:
        text = str(ipaddress.ip_address(value))
    except ValueError:
        return None
    return text if len(text) <= MAX_IP_CHARS else None


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)
