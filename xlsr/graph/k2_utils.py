"""Importing k2 with a clear message where it is missing (the modern lane)."""

from __future__ import annotations

from typing import Any

K2_MISSING = (
    "k2 is not installed in this environment. k2 1.23.4 exists for CPython 3.9 + torch "
    "1.13.1 only: use the k2 lane (.venv/, built by utils/setup_env.sh --lane k2), or install "
    "k2 for your torch from k2's own wheel pages."
)


def has_k2() -> bool:
    try:
        import k2  # noqa: F401
    except ImportError:
        return False
    return True


def require_k2(feature: str = "this feature") -> Any:
    """Returns the k2 module, or raises ImportError naming ``feature`` and the fix."""
    try:
        import k2
    except ImportError as e:
        raise ImportError(f"{feature} needs k2. {K2_MISSING}") from e
    return k2
