"""Limits of the serving side, shared by the query code and the CLI's help (no heavy imports)."""

MAX_K = 1000                                # largest k a query may ask for
BACKENDS = ("auto", "numpy", "faiss")       # how a domain's top-k is found
