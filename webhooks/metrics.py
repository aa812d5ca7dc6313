"""Prometheus metrics of one receiver app, in a registry of its own.

Each `Metrics` owns a `CollectorRegistry`, so tests (and a process serving several apps) can
build as many apps as they like without "duplicated timeseries" errors from the global
registry. The receiver counts webhooks by event and outcome and times its acknowledgements;
the worker (issue 5, part 2) records processing lag and the actions it carried out through
`observe_lag` and `count_action`. Label values are bounded: event names are only taken from
signed bodies, and outcomes and results are fixed words.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "OUTCOMES", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: What became of a webhook request.
OUTCOMES = (
    "journaled",  # new event, stored
    "duplicate",  # already in the journal, acknowledged again
    "unparsed",  # signed but not readable or did not fit our models: stored unparsed, acked
    "foreign_meeting",  # signed, of a meeting that is not the group's: one redacted line, acked
    "validated",  # endpoint.url_validation answered
    "unauthorized",  # bad/missing signature or timestamp: 401
    "too_large",  # 413
    "slow_body",  # the body did not arrive within server.body_timeout_seconds: 408
    "aborted",  # the client hung up before its body was read; nothing to answer
    "busy",  # more requests in progress than server.max_concurrent_requests: 503
    "unavailable",  # the journal could not be written in time: 503
)


class Metrics:
    """The receiver's and worker's metrics, registered on `self.registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.webhooks = Counter(
            "balint_webhooks_received",
            "Webhook requests received, by Zoom event name and outcome.",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "balint_webhook_ack_seconds",
            "Time from reading a webhook request to answering it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
            registry=self.registry,
        )
        self.processing_lag = Histogram(
            "balint_processing_lag_seconds",
            "Time from journaling a webhook to the runtime having processed it.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self.actions = Counter(
            "balint_actions",
            "Meeting actions the runtime carried out, by kind and result.",
            ["kind", "result"],
            registry=self.registry,
        )

    def count_webhook(self, *, event: str, outcome: str) -> None:
        """Count one webhook request; `event` is "" when the body was not read."""
        self.webhooks.labels(event=event or "-", outcome=outcome).inc()

    def observe_ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    def observe_lag(self, seconds: float) -> None:
        """Record how long a journaled event waited before the runtime processed it."""
        self.processing_lag.observe(max(seconds, 0.0))

    def count_action(self, *, kind: str, result: str) -> None:
        """Count one meeting action (`bot.meeting.executor.action_kind`) and its result."""
        self.actions.labels(kind=kind, result=result).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
