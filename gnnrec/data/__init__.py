"""Data layer: raw files -> canonical tables (:class:`~gnnrec.data.schema.Dataset`) -> splits."""

from gnnrec.data.registry import load_dataset
from gnnrec.data.schema import DataError, Dataset, RawData

__all__ = ["DataError", "Dataset", "RawData", "load_dataset"]
