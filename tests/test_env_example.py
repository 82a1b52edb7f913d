""".env.example documents every setting, with its default."""

from __future__ import annotations

import re

from app.settings import Settings, env_name
from tests.support import ROOT


def test_env_example_lists_every_setting_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.M))
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for field, info in Settings.model_fields.items():
        name = env_name(field)
        assert name in documented, f"{name} is missing from .env.example"
        default = info.default
        if default is not None and name not in ("DATABASE_URL",):
            given = documented[name].strip()
            value = getattr(defaults, field)
            parsed = type(value)(given.lower() == "true") if isinstance(value, bool) else type(value)(given)
            assert parsed == value, f"{name}: .env.example says {given!r}, default is {value!r}"
    assert "access.token.validity.in.minutes" in text and "refresh.token.validity.in.minutes" in text


def test_env_file_is_ignored_by_git() -> None:
    assert re.search(r"^\.env$", (ROOT / ".gitignore").read_text(), flags=re.M)
