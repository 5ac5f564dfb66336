"""The one error base of gnnrec.

Every error the library raises for bad input -- a config, a data file, a run
folder, an export, a query -- is a :class:`GnnrecError` (each stage keeps its
own subclass beside its code: ``DataError``, ``ConfigError``, ``RunError``,
``CheckpointError``, ``ExportError``, ``QueryError``, ``TextError``,
``EvalError``, ``BenchError``, ``UnknownModelError``, ``DeviceOOM``). Its
message is the whole story: what is wrong, where (file, line or option) and
how to fix it. ``gnnrec.cli`` catches the base once and prints that message
as one line; anything else is a bug and keeps its traceback.
"""


class GnnrecError(Exception):
    """A user error whose message names what is wrong, where, and the fix."""
