"""Batch tests share the e2e session engine (one real vLLM per session, see tests/e2e)."""

from tests.e2e.conftest import local_engine

__all__ = ["local_engine"]
