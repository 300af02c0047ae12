"""The local stack: inference server, the real gateway Lambda and the web UI on one port."""
