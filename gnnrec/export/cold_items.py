"""New items known only by their text: vectors from the model's text path.

An export of a model with a text path (``cd-lightgcn-text``, ``lightgcn-text``,
``text-only``) carries ``cold_item_map.npy`` (n_domains, t, dim) and, in its
manifest, ``cold_items.text`` (the text encoder and item template the model was
trained with). A new item of domain d with text embedding t_i (the same
encoder, L2-normalised) gets ``V[i] = t_i @ map[d]``.

What is exact: this is the vector the model gives an item of its catalogue
that has no train interaction (``cd-lightgcn-text``: layer 0 = the projected
text, no ID row, no edge -- so only the 0th propagation layer, ``W t_i / (L +
1)`` -- and zero cross-domain-map columns). What is not: nobody's user vector
moves towards the new item until users interact with it (live interactions
fold it into their vectors; a retrain or ``gnnrec update`` puts it in the
graph), and a model trained with ``model.lexical`` has no map (a new title's
words are outside its learned vocabulary). Models without a text path have no
map: their new items need interactions and training.

The items table (TSV with a header) needs ``item_id`` and ``domain`` and the
columns the template names (``title``, ``year``, ``genres`` for MovieLens);
missing template columns are treated as empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data.readers import read_table
from gnnrec.export.contract import Export, ExportError


def read_new_items(path: str | os.PathLike) -> pd.DataFrame:
    """The items table (strings); ``title`` filled with "" when absent."""
    t = read_table(Path(path), required=["item_id", "domain"])
    if "title" not in t:
        t["title"] = ""
    return t.reset_index(drop=True)


def text_item_vectors(exp: Export, table: pd.DataFrame, encoder=None, progress: bool = False
                      ) -> list[tuple[str, str, str, np.ndarray]]:
    """(item_id, domain, title, vector (dim,)) per row of ``table`` (module docstring)."""
    from gnnrec.text.encoder import TextEncoder
    from gnnrec.text.templates import load_text_config, parse_template, render_texts

    info = exp.manifest.get("cold_items")
    if exp.cold_item_map is None or not isinstance(info, dict):
        raise ExportError(f"model {exp.manifest.get('model')!r} has no text path for new items (its export "
                          f"has no cold_item_map.npy): an item known only by its text cannot get a vector "
                          f"from it; new items of such a model need interactions and training "
                          f"(`gnnrec update RUN --data NEW`)")
    text = info.get("text") or {}
    doms = exp.domains()
    bad = sorted(set(table["domain"]) - set(doms))
    if bad:
        raise ExportError(f"new items name domains {bad}; this export has {doms}")
    groups, _ = parse_template(text["template"])
    frame = table.copy()
    for g in groups:
        if g.field not in frame:
            frame[g.field] = ""
    cfg = load_text_config(text.get("dataset") or "")
    texts, _ = render_texts(frame, text["template"], list_separator=cfg.list_separator, values=cfg.values)
    empty = [i for i, t in zip(frame["item_id"], texts) if not t.strip()]
    if empty:
        raise ExportError(f"new items {empty[:5]} have no text under the template {text['template']!r}; "
                          f"an item known only by its text needs some")
    enc = encoder or TextEncoder(text.get("encoder"), device="cpu")
    t = enc.encode(texts, progress=progress, desc="new item texts")
    if t.shape[1] != exp.cold_item_map.shape[1]:
        raise ExportError(f"the text encoder gives {t.shape[1]}-d embeddings, the export's map expects "
                          f"{exp.cold_item_map.shape[1]}: use the encoder the model was trained with "
                          f"({text.get('encoder') or 'the bundled all-MiniLM-L6-v2'})")
    d_index = {d: k for k, d in enumerate(doms)}
    out = []
    for k, row in frame.iterrows():
        vec = t[k].astype(np.float64) @ exp.cold_item_map[d_index[row["domain"]]].astype(np.float64)
        out.append((str(row["item_id"]), str(row["domain"]), str(row["title"]), vec.astype(np.float32)))
    return out
