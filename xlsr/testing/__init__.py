"""Helpers that build tiny checkpoints, corpora and lang dirs for tests and recipes."""
