"""Prometheus metrics: requests, latency, time to first token, tokens, rejections, cancellations."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Decode speed per answer (tokens/s): a 135M model on 2 cores to a 7B model batched on a GPU.
SPEED_BUCKETS = (1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """One registry per app, so several servers (or tests) in a process never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "simplechat_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "simplechat_request_duration_seconds", "Time to the full answer", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "simplechat_time_to_first_token_seconds", "Admission to first generated text",
            buckets=TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.speed = Histogram(
            "simplechat_answer_tokens_per_second",
            "Per finished answer: tokens after the first, per second after the first",
            buckets=SPEED_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "simplechat_generated_tokens", "Tokens generated for clients", registry=r
        )
        self.rejected = Counter(
            "simplechat_rejected_requests", "Requests turned away", ["reason"], registry=r
        )
        self.cancelled = Counter(
            "simplechat_cancelled_requests",
            "Generations ended early: client gone, stream closed, or time limit",
            registry=r,
        )
        self.in_flight = Gauge(
            "simplechat_requests_in_flight", "Admitted requests running or queued", registry=r
        )
        self.running = Gauge(
            "simplechat_running_sequences", "Requests the engine is decoding now", registry=r
        )
        self.queued = Gauge(
            "simplechat_queued_requests", "Admitted requests waiting for the engine", registry=r
        )

    def watch(
        self,
        *,
        in_flight: Callable[[], float],
        running: Callable[[], float],
    ) -> None:
        """Gauges read live values when scraped."""
        self.in_flight.set_function(in_flight)
        self.running.set_function(running)
        self.queued.set_function(lambda: max(0.0, in_flight() - running()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
