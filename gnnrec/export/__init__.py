"""Export contract (embeddings + ids + manifest) and serving-side queries."""
