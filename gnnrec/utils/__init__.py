"""Small helpers shared by every stage (file integrity, atomic writes, seeds, devices)."""
