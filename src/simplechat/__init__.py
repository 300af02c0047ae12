"""simplechat: your own LLM behind a chat app."""

__version__ = "0.1.0"
