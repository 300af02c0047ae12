"""Moved to tests/support/processes.py; this name stays for tests written before the move."""

from tests.support.processes import ServerProcess, free_port

__all__ = ["ServerProcess", "free_port"]
