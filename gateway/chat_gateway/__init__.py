"""The chat gateway: validates the web UI's request and asks the custom LLM API for an answer."""
