"""Where gnnrec keeps its data cache (raw downloads, prepared datasets, embeddings, maps)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Root of gnnrec's data cache: ``$GNNREC_DATA_DIR``, else the user cache folder."""
    env = os.environ.get("GNNREC_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("gnnrec"))
