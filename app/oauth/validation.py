"""What a username, a password and a scope must be: the one set of rules the command
line, the admin API and the account routes apply before anything is stored.

Usernames are NFC-normalised and case-sensitive (`Alice` and `alice` are two accounts,
as the login limits already count them), at most MAX_USERNAME characters (the width of
user_account.username). A name is refused when it is empty, begins or ends with
whitespace, holds a control, format or other invisible character (category C, a line or
paragraph separator, a space other than U+0020), or mixes letters of several scripts:
`pаypal` with a Cyrillic `а` looks like a Latin name it is not. Scripts are told apart
by the first word of each letter's Unicode name (LATIN, CYRILLIC, GREEK, CJK …); the
mixes UTS #39 calls "highly restrictive" are allowed: Latin with Han, Hiragana and
Katakana (Japanese), with Han and Bopomofo, or with Han and Hangul (Korean).

Passwords have MIN_PASSWORD to MAX_PASSWORD characters: a longer one is refused, never
silently cut (argon2 takes any length, but nobody's password is 2,000 characters, and
hashing one costs every other login its turn).

Scopes are RFC 6749 §3.3 scope tokens (%x21 / %x23-5B / %x5D-7E), space-separated, and
each must be one the server knows: SCOPES_SUPPORTED and ADMIN_SCOPE, which the admin
routes require.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from app.errors import InvalidRequest
from app.store.users import normalise_username

MAX_USERNAME = 150  # user_account.username is String(150)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
ADMIN_SCOPE = "admin"

# UTS #39 §5.2 "highly restrictive": these script sets may be mixed (each with Latin).
_ALLOWED_MIXES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)
_SCRIPT_ALIASES = {"KATAKANA-HIRAGANA": "KATAKANA"}  # the prolonged sound mark ー


def is_scope_token(token: str) -> bool:
    """RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )."""
    return bool(token) and all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in token)


def known_scopes(supported: Iterable[str]) -> frozenset[str]:
    """The scopes a user or client may be given: those advertised, and the admin scope."""
    return frozenset(supported) | {ADMIN_SCOPE}


def valid_username(name: str) -> str:
    """The name as it is stored (NFC), or InvalidRequest saying what is wrong. The
    message never repeats the name: it may be a password typed in the wrong field."""
    if not name:
        raise InvalidRequest("The username is empty.")
    name = normalise_username(name)
    if len(name) > MAX_USERNAME:
        raise InvalidRequest(f"The username is longer than {MAX_USERNAME} characters.")
    if name != name.strip():
        raise InvalidRequest("The username begins or ends with whitespace.")
    if any(_invisible(c) for c in name):
        raise InvalidRequest("The username contains a control or invisible character.")
    scripts = {_script(c) for c in name if unicodedata.category(c).startswith("L")}
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
        raise InvalidRequest("The username mixes letters of different scripts.")
    return name


def valid_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"The password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    if "\x00" in password or any(unicodedata.category(c) == "Cs" for c in password):
        raise InvalidRequest("The password contains a NUL character or is not valid text.")
    return password


def valid_scope(scope: str, known: frozenset[str]) -> str:
    """A space-separated list of known scope tokens, duplicates dropped; empty is none."""
    tokens = scope.split(" ") if scope else []
    if not all(is_scope_token(t) for t in tokens):
        raise InvalidRequest("The scope must be scope tokens separated by single spaces (RFC 6749 section 3.3).")
    unknown = sorted(set(tokens) - known)
    if unknown:
        raise InvalidRequest(f"Unknown scope: {' '.join(unknown)} (known: {' '.join(sorted(known))}).")
    return " ".join(dict.fromkeys(tokens))


def _invisible(c: str) -> bool:
    category = unicodedata.category(c)
    return category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and c != " ")


def _script(letter: str) -> str:
    first = unicodedata.name(letter, "UNNAMED").split(" ", 1)[0]
    return _SCRIPT_ALIASES.get(first, first)
