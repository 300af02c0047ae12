"""The folders the stack deploys: the gateway Lambda and the web UI, from this checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_DIR = ROOT / "gateway"
WEB_DIR = ROOT / "web"
#: Never shipped: caches and the locally generated runtime config.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "config.js"]
