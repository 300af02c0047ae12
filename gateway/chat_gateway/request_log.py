"""One structured JSON log line per request; message text and keys only when LOG_CONTENT is on."""

from __future__ import annotations

import json
import sys
from typing import Any


def log_line(**fields: Any) -> dict[str, Any]:
    # stdout goes to CloudWatch Logs in Lambda; one JSON object per line is queryable there.
    record = {k: v for k, v in fields.items() if v is not None and v != ""}
    print(json.dumps(record, ensure_ascii=False), file=sys.stdout, flush=True)
    return record
