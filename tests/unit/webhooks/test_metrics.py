"""Each app's metrics live in their own registry and render in Prometheus' text format."""

from __future__ import annotations

from webhooks.metrics import Metrics


def test_registries_are_independent_and_count_what_they_are_told() -> None:
    first, second = Metrics(), Metrics()
    first.count_webhook(event="meeting.started", outcome="journaled")
    first.count_webhook(event="", outcome="unauthorized")
    first.count_action(kind="admit", result="ok")
    first.count_action(kind="admit", result="ok")
    first.observe_lag(0.2)
    first.observe_lag(-1.0)  # clock skew never yields a negative lag
    first.observe_ack(0.003)

    def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert (
        sample(
            first, "balint_webhooks_received_total", event="meeting.started", outcome="journaled"
        )
        == 1
    )
    assert sample(first, "balint_webhooks_received_total", event="-", outcome="unauthorized") == 1
    assert sample(first, "balint_actions_total", kind="admit", result="ok") == 2
    assert sample(first, "balint_processing_lag_seconds_count") == 2
    assert sample(first, "balint_processing_lag_seconds_sum") == 0.2
    assert sample(first, "balint_webhook_ack_seconds_count") == 1
    assert sample(second, "balint_actions_total", kind="admit", result="ok") is None
    text = first.exposition().decode()
    assert 'balint_actions_total{kind="admit",result="ok"} 2.0' in text
