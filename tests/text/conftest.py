"""Fixtures for gnnrec.text tests: one real MiniLM encoder for the whole session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gnnrec.text import TextEncoder, default_model_path


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    """The bundled all-MiniLM-L6-v2 on CPU, loaded once (about 2 s)."""
    enc = TextEncoder(device="cpu", max_length=64)
    enc._load()
    return enc


def model_copy(dst: Path, skip: tuple[str, ...] = (), link_weights: bool = True) -> Path:
    """A copy of the bundled model folder without ``skip`` files; weights symlinked."""
    src = default_model_path()
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_dir() or rel.name in skip:
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        if link_weights and p.suffix == ".safetensors":
            os.symlink(p, dst / rel)
        else:
            shutil.copy2(p, dst / rel)
    return dst
