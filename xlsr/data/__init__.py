"""Corpora, tokenizers and the lhotse data module."""
