"""Without Chromium the browser tests skip with the install command, except in CI."""

from __future__ import annotations

import pytest

from . import conftest


def test_a_developer_without_chromium_is_told_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"make browser-deps.*apt-get install chromium"):
        conftest.require_chromium()


def test_ci_without_chromium_fails_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but Chromium is missing"):
        conftest.require_chromium()
