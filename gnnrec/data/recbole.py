"""RecBole atomic files <-> gnnrec datasets, both ways.

RecBole (and RecBole-CDR) read tab-separated *atomic files* whose header
types every column, ``name:type`` with ``type`` in ``token``, ``token_seq``,
``float``, ``float_seq`` (``.inter``: interactions, ``.item``: item features).

**Import** (:func:`read_recbole`, ``gnnrec data prepare NAME --format recbole``):
one ``.inter`` whose ``--domain-field`` column (in the ``.inter`` or the
``.item`` file) names each row's domain, or one ``.inter`` per domain
(``--inter books=Books.inter --inter movies=Movies.inter``; item ids are then
namespaced ``domain:id``, as RecBole-CDR's domains number their items apart).
Headers are parsed strictly: every field needs a known type, ``user_id`` and
``item_id`` must be ``token``, ``rating`` and ``timestamp`` (optional) must be
``float``; timestamps must be whole numbers. The result is split like every
other format (``--split cold|loo|random``).

**Export** (:func:`write_recbole`, ``gnnrec data export DATASET --format recbole``):
a prepared dataset's frozen train / valid / test as RecBole benchmark files
(``benchmark_filename: [train, valid, test]``), merged and per domain::

    OUT/<name>/<name>.{train,valid,test}.inter      every domain (with a domain:token column)
    OUT/<name>/<name>.item                          item_id, domain and the text columns
    OUT/<name>-<domain>/<name>-<domain>.{train,valid,test}.inter + .item   one per domain
    OUT/recbole.yaml                                the RecBole / RecBole-CDR settings to use them

Cold-start rows keep their place: a user cold in a domain has no train row
there, exactly as in gnnrec's split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gnnrec.data.clean import assemble
from gnnrec.data.readers import read_table
from gnnrec.data.schema import SPLITS, DataError, Dataset, RawData, namespaced
from gnnrec.utils.files import atomic_dir, atomic_write_text, sha256_file

TYPES = ("token", "token_seq", "float", "float_seq")
REQUIRED = {"user_id": "token", "item_id": "token"}
OPTIONAL = {"rating": "float", "timestamp": "float"}
INTER_COLUMNS = ("user_id:token", "item_id:token", "rating:float", "timestamp:float")


def read_header(path: Path) -> dict[str, str]:
    """``{field: type}`` of an atomic file's first line, checked (module docstring)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.readline().rstrip("\r\n")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 ({e.reason}); RecBole atomic files are UTF-8") from None
    fields: dict[str, str] = {}
    for col in head.split("\t"):
        name, sep, typ = col.strip().rpartition(":")
        if not sep or not name or typ not in TYPES:
            raise DataError(f"{path}, line 1: header field {col!r} is not name:type with type in "
                            f"{list(TYPES)} (RecBole atomic files type every column, e.g. user_id:token)")
        if name in fields:
            raise DataError(f"{path}, line 1: field {name!r} appears twice in the header")
        fields[name] = typ
    for name, typ in {**REQUIRED, **OPTIONAL}.items():
        if name in fields and fields[name] != typ:
            raise DataError(f"{path}, line 1: {name} is typed {fields[name]!r}, RecBole's {name} is {typ!r}")
    return fields


def _inter(path: Path, extra: list[str]) -> pd.DataFrame:
    fields = read_header(path)
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        raise DataError(f"{path}, line 1: the header lacks {missing} (RecBole's user_id:token and "
                        f"item_id:token); it has {list(fields)}")
    absent = [c for c in extra if c not in fields]
    if absent:
        raise DataError(f"{path}, line 1: no field {absent[0]!r}; it has {list(fields)}")
    cols = [*REQUIRED, *(k for k in OPTIONAL if k in fields), *extra]
    t = read_table(path, cols, numeric=[k for k in OPTIONAL if k in fields])
    if "timestamp" in t:
        ts = t["timestamp"].to_numpy(np.float64)
        frac = np.flatnonzero(np.mod(ts, 1) != 0)
        if len(frac):
            raise DataError(f"{path}, line {t.attrs['line_of'][frac[0]]}: timestamp {float(ts[frac[0]])!r} is not "
                            f"a whole number (gnnrec orders interactions by integer times)")
        t["timestamp"] = ts.astype(np.int64)
    return t


def read_recbole(inters: dict[str | None, str | os.PathLike], item: str | os.PathLike | None = None,
                 domain_field: str | None = None, name: str = "recbole") -> tuple[RawData, dict[str, str]]:
    """Atomic files -> :class:`RawData` (module docstring). ``inters``: ``{domain: path}``, or
    ``{None: path}`` for one file whose ``domain_field`` column names the domains."""
    if None in inters and (len(inters) != 1 or domain_field is None):
        raise DataError("a single .inter needs --domain-field FIELD (its column naming each row's "
                        "domain); several domains take one --inter DOMAIN=FILE each")
    item_frame = None
    if item is not None:
        fields = read_header(Path(item))
        if "item_id" not in fields:
            raise DataError(f"{item}, line 1: the header lacks item_id:token")
        item_frame = read_table(Path(item), list(fields))
        item_frame.attrs = {}
        for col, typ in fields.items():
            if typ == "token_seq" and col != "item_id":
                item_frame[col] = item_frame[col].str.replace(" ", ", ", regex=False)
        if item_frame["item_id"].duplicated().any():
            raise DataError(f"{item}: item {item_frame['item_id'][item_frame['item_id'].duplicated()].iat[0]!r} "
                            f"is listed twice")
    frames, inputs = [], {}
    for dom, path in inters.items():
        path = Path(path)
        in_inter = dom is None and domain_field in read_header(path)
        t = _inter(path, [domain_field] if in_inter else [])
        if dom is None and not in_inter:
            if item_frame is None or domain_field not in item_frame:
                raise DataError(f"--domain-field {domain_field!r} is a column of neither {path} nor the "
                                f".item file; name the column that holds each row's domain")
            t["domain"] = t["item_id"].map(item_frame.set_index("item_id")[domain_field])
            if t["domain"].isna().any():
                bad = t["item_id"][t["domain"].isna()].iat[0]
                raise DataError(f"{path}: item {bad!r} is not in {item}, so its domain is unknown")
        else:
            t["domain"] = t.pop(domain_field) if in_inter else dom
        if len(inters) > 1:
            t["item_id"] = [namespaced(dom, i) for i in t["item_id"]]
        frames.append(t)
        inputs[path.name] = sha256_file(path)
    inter = pd.concat(frames, ignore_index=True)
    inter.attrs = dict(frames[0].attrs) if len(frames) == 1 else {}
    items = inter[["item_id", "domain"]].drop_duplicates("item_id").reset_index(drop=True)
    if items["item_id"].duplicated().any():
        raise DataError("an item appears in two domains; give each domain its own --inter file")
    if item_frame is not None:
        inputs[Path(item).name] = sha256_file(item)
        raw_id = items["item_id"].str.split(":", n=1).str[-1] if len(inters) > 1 else items["item_id"]
        text = item_frame.drop(columns=[c for c in (domain_field,) if c in item_frame]).set_index("item_id")
        items = pd.concat([items, text.reindex(raw_id.to_numpy()).reset_index(drop=True).fillna("")],
                          axis=1)
    if "rating" not in inter:
        inter["rating"] = 1.0
    if "timestamp" not in inter:
        inter["timestamp"] = np.arange(len(inter), dtype=np.int64)
    domains = sorted(set(items["domain"].astype(str)))
    source = {"format": "recbole", "files": list(inputs), "domain_field": domain_field}
    raw = assemble(name, None, items.astype({"domain": str}), domains,
                   inter[["user_id", "item_id", "rating", "timestamp"]], source=source)
    return raw, inputs


def _inter_table(ds: Dataset, split: str, domain: int | None) -> str:
    t = ds.split(split)
    if domain is not None:
        t = t[t["domain"] == domain]
    cols = {"user_id:token": ds.users["user_id"].to_numpy()[t["user"].to_numpy()],
            "item_id:token": ds.items["item_id"].to_numpy()[t["item"].to_numpy()],
            "rating:float": t["rating"].to_numpy(),
            "timestamp:float": t["timestamp"].to_numpy()}
    if domain is None:
        cols["domain:token"] = np.asarray(ds.domains, dtype=object)[t["domain"].to_numpy()]
    return pd.DataFrame(cols).to_csv(sep="\t", index=False, lineterminator="\n")


def _item_table(ds: Dataset, domain: int | None) -> str:
    items = ds.items if domain is None else ds.items.iloc[ds.item_block(domain)]
    cols = {"item_id:token": items["item_id"].to_numpy(), "domain:token": items["domain"].to_numpy()}
    for c in ds.text_columns:
        if c != "domain":
            cols[f"{c}:token_seq"] = items[c].fillna("").astype(str).str.replace(r"[\t\r\n]", " ",
                                                                                   regex=True).to_numpy()
    return pd.DataFrame(cols).to_csv(sep="\t", index=False, lineterminator="\n")


def write_recbole(ds: Dataset, out: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``ds``'s splits as RecBole benchmark files (module docstring), atomically."""
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        sets = [(ds.name, None)] + [(f"{ds.name}-{d}", i) for i, d in enumerate(ds.domains)]
        for folder, dom in sets:
            (tmp / folder).mkdir()
            for split in SPLITS:
                (tmp / folder / f"{folder}.{split}.inter").write_text(_inter_table(ds, split, dom),
                                                                     encoding="utf-8")
            (tmp / folder / f"{folder}.item").write_text(_item_table(ds, dom), encoding="utf-8")
        lines = [f"# RecBole settings for {ds.name} (written by gnnrec data export)",
                 f"data_path: {out}", f"dataset: {ds.name}           # or {ds.name}-<domain>: one domain",
                 "benchmark_filename: [train, valid, test]",
                 "USER_ID_FIELD: user_id", "ITEM_ID_FIELD: item_id", "RATING_FIELD: rating",
                 "TIME_FIELD: timestamp",
                 "load_col: {inter: [user_id, item_id, rating, timestamp]}",
                 "# RecBole-CDR: source_domain / target_domain each point at a per-domain dataset, e.g.",
                 *(f"#   {role}: {{dataset: {ds.name}-{d}, data_path: {out}, benchmark_filename: "
                   f"[train, valid, test]}}" for role, d in zip(("source_domain", "target_domain"),
                                                               ds.domains[:2])),
                 f"# gnnrec's split: {ds.protocol.get('cold_groups', 'see the prepared manifest')}"]
        atomic_write_text(tmp / "recbole.yaml", "\n".join(lines) + "\n")
        atomic_write_text(tmp / "manifest.json",
                          '{"format": "gnnrec-recbole/1", "dataset": "%s", "fingerprint": "%s"}\n'
                          % (ds.name, ds.fingerprint()))
    return out
