"""Shared test helpers (imported as ``support`` from tests)."""
