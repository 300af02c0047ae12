"""Helpers shared by the test folders: servers, upstreams, SSE parsing, clocks, tokens."""
