"""Readers: each format is one module; `history.load_history` picks the reader."""
