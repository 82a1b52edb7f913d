"""The files a user or a packager reads first agree with pyproject.toml: the licence it
declares, the version the changelog and the security policy name."""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT


def project() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def test_the_licence_file_is_the_mit_licence_pyproject_declares() -> None:
    assert project()["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 authserver contributors" in text
    assert "Permission is hereby granted, free of charge" in text


def test_the_changelogs_newest_version_is_pyprojects() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "Keep a Changelog" in text
    versions = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert versions and versions[0] == project()["version"]


def test_the_security_policy_supports_the_current_version() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    major, minor, _ = str(project()["version"]).split(".")
    assert f"| {major}.{minor}.x" in text
    assert "Report a vulnerability" in text and "## Scope" in text
