"""The HTTP API: the seed's /chat, the course's /generate and OpenAI-compatible /v1."""
