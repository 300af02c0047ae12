"""The counts of the gateway's log lines, as Prometheus text: what the CDK dashboard reads from
CloudWatch, served locally at the stack's /metrics (the gateway server's GET /metrics)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

#: Buckets (ms) for the time to the first token and the whole answer.
BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
#: Buckets (tokens/s) for an answer's decode speed, as the model server's /metrics has them.
BUCKETS_SPEED = (1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS_MS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.sum += value
        index = next(
            (i for i, bound in enumerate(self.buckets) if value <= bound), len(self.buckets)
        )
        self.counts[index] += 1

    def lines(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip((*self.buckets, "+Inf"), self.counts, strict=True):
            running += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
        return [*lines, f"{name}_sum {self.sum:g}", f"{name}_count {running}"]


class Tally:
    """Fed every log record (`record`); `text()` is the exposition. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.throttled: Counter[str] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()
        self.latency = Histogram()
        self.first_token = Histogram()
        self.speed = Histogram(BUCKETS_SPEED)

    def record(self, record: dict[str, Any]) -> None:
        status = record.get("status")
        if not isinstance(status, int):
            return
        with self._lock:
            self.requests[str(record.get("route") or "/chat"), status] += 1
            if record.get("throttled"):
                self.throttled[str(record["throttled"])] += 1
            user = str(record.get("user") or "local")
            for kind, field in (("prompt", "promptTokens"), ("completion", "completionTokens")):
                if isinstance(record.get(field), int):
                    self.tokens[user, kind] += record[field]
            if not record.get("route") and isinstance(record.get("latencyMs"), int):
                self.latency.observe(record["latencyMs"])
            if isinstance(record.get("firstTokenMs"), int):
                self.first_token.observe(record["firstTokenMs"])
            speed = record.get("tokensPerSecond")
            if isinstance(speed, int | float) and not isinstance(speed, bool) and speed > 0:
                self.speed.observe(speed)

    def text(self, include_users: bool = False) -> str:
        """The exposition; the tokens by user (each user's `sub`, which a forged sign-in
        could use) only when `include_users`, for a caller the stack checked as an operator."""
        with self._lock:
            tokens = Counter[tuple[str, str]]()
            for (user, kind), n in self.tokens.items():
                tokens[user if include_users else "", kind] += n
            lines = [
                "# HELP simplechat_gateway_requests_total Requests the gateway answered.",
                "# TYPE simplechat_gateway_requests_total counter",
                *(
                    f'simplechat_gateway_requests_total{{route="{route}",status="{status}"}} {n}'
                    for (route, status), n in sorted(self.requests.items())
                ),
                "# HELP simplechat_gateway_throttled_total Requests refused by a per-user limit.",
                "# TYPE simplechat_gateway_throttled_total counter",
                *(
                    f'simplechat_gateway_throttled_total{{limit="{limit}"}} {n}'
                    for limit, n in sorted(self.throttled.items())
                ),
                "# HELP simplechat_gateway_tokens_total Tokens the model server counted"
                + (", by user." if include_users else "."),
                "# TYPE simplechat_gateway_tokens_total counter",
                *(
                    "simplechat_gateway_tokens_total{"
                    + (f'user="{_label(user)}",' if include_users else "")
                    + f'kind="{kind}"}} {n}'
                    for (user, kind), n in sorted(tokens.items())
                ),
                "# HELP simplechat_gateway_latency_ms Time to a whole chat answer.",
                "# TYPE simplechat_gateway_latency_ms histogram",
                *self.latency.lines("simplechat_gateway_latency_ms"),
                "# HELP simplechat_gateway_first_token_ms Time to the first token, streamed.",
                "# TYPE simplechat_gateway_first_token_ms histogram",
                *self.first_token.lines("simplechat_gateway_first_token_ms"),
                "# HELP simplechat_gateway_tokens_per_second Each answer's decode speed.",
                "# TYPE simplechat_gateway_tokens_per_second histogram",
                *self.speed.lines("simplechat_gateway_tokens_per_second"),
            ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
