"""Moved to tests/support/live.py; this name stays for tests written before the move."""

from tests.support.live import (
    live_server,
    metric,
    raw_json_post,
    wait_until,
    wait_until_it_stops_growing,
)

__all__ = ["live_server", "metric", "raw_json_post", "wait_until", "wait_until_it_stops_growing"]
