"""Data layer: raw files -> canonical tables (:class:`~gnnrec.data.schema.Dataset`) -> splits."""

from gnnrec.utils.lazy import lazy

__getattr__, __dir__, __all__ = lazy(__name__, {
    "DataError": "gnnrec.data.schema",
    "Dataset": "gnnrec.data.schema",
    "RawData": "gnnrec.data.schema",
    "from_hetero_data": "gnnrec.data.pyg",
    "load_dataset": "gnnrec.data.registry",
})
