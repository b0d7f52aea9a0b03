"""Where a project finds its state and its input data (`ff_assets.config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ff_assets.config import data_dir


def test_data_dir_prefers_configured_then_env_then_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FF_DATA_DIR", str(tmp_path / "env"))
    assert data_dir(tmp_path / "given") == (tmp_path / "given").resolve()
    assert data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("FF_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert data_dir() == (tmp_path.parent / "shared" / "data").resolve()
