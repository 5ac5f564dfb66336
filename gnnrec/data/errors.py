"""The data stage's error (light: importable without pandas)."""

from gnnrec.errors import GnnrecError


class DataError(GnnrecError, ValueError):
    """Bad input data. The message names the file, the line and the fix."""
