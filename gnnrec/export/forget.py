"""``gnnrec forget RUN --users ids.txt``: the run (:func:`gnnrec.train.update.forget_run`) and
its exports.

After the run is trained again without the users, every export named (and the run's own
``export/``) is written again from the new model, and its live-update log (``updates/``) is
carried over without the forgotten users' interactions (items added live keep the vectors they
were given; add them again with ``gnnrec add-items`` to give them the new model's text path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from gnnrec.export.contract import load_export
from gnnrec.export.live import STORE_FILE, Event, UpdateStore
from gnnrec.export.pipeline import export_run
from gnnrec.train.update import forget_run
from gnnrec.utils.files import read_json, write_json


def _events(folder: Path) -> list[Event]:
    if not (folder / STORE_FILE).is_file():
        return []
    store = UpdateStore(folder, create=False)
    try:
        return store.events_after(0)
    finally:
        store.close()


def _replay(folder: Path, events: list[Event], gone: set[str]) -> int:
    """Write ``folder``'s live log again: ``events`` minus the forgotten users' interactions."""
    keep = [e for e in events if not (e.kind == "interaction" and e.user in gone)]
    if not keep:
        return 0
    store = UpdateStore(folder)
    try:
        items = [(e.item, e.domain, e.title, e.vector) for e in keep if e.kind == "item"]
        if items:
            store.append_items(items)
        inter = [(e.user, e.item, e.domain) for e in keep if e.kind == "interaction"]
        if inter:
            store.append_interactions(inter)
    finally:
        store.close()
    return len(keep)


def forget(run_dir: str | os.PathLike, users: Sequence[str], full_retrain: bool = False,
           epochs: int | None = None, exports: Sequence[str | os.PathLike] = (),
           progress: bool = True) -> dict[str, Any]:
    """Forget ``users`` in the run and in ``exports`` (module docstring); returns the report
    also written to the run's ``forget.json``."""
    run_dir = Path(run_dir)
    own = run_dir / "export"
    others = [Path(e) for e in exports if Path(e).resolve() != own.resolve()]
    manifests = {e: load_export(e).manifest for e in others}     # a damaged export stops us first
    logs = {e: _events(e) for e in [own, *others] if e.is_dir()}
    gone = {str(u) for u in users}
    res, report = forget_run(run_dir, list(users), full_retrain=full_retrain, epochs=epochs,
                             progress=progress)
    for e, m in manifests.items():
        faiss = ((m.get("extras") or {}).get("faiss") or {}).get("kind")
        export_run(res.run_dir, e, dtype=m.get("dtype", "float32"), faiss=faiss, overwrite=True)
    kept = {str(e): _replay(e, events, gone) for e, events in logs.items()}
    report = {**read_json(res.run_dir / "forget.json"), "exports_rewritten": [str(e) for e in others],
              "live_events_kept": kept,
              "live_events_dropped": sum(len(v) for v in logs.values()) - sum(kept.values())}
    write_json(res.run_dir / "forget.json", report)
    return report
