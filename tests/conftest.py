"""Shared fixtures. Tests needing k2, torchaudio or transformers skip with a reason."""

import logging

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _quiet_third_party():
    logging.getLogger("transformers").setLevel(logging.ERROR)
    yield
