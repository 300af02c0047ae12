"""A stand-in for pyngrok at its boundary (no ngrok binary, no network), for process tests."""
