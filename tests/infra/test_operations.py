"""Fair use in the template: the per-user limits wired to the gateway from -c, the usage counts'
TTL, the operators' dashboard and the 5xx alarm over the gateway's log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simplechat_infra.operations import LOG_METRICS, NAMESPACE

from tests.support.cdk_template import Synthesized, function_env, gateway_function, refs, synthesize


def test_limits_from_context_reach_the_gateway(tmp_path: Path) -> None:
    _, stack = synthesize(
        tmp_path,
        userTokensPerDay="20000",
        userRequestsPerMinute="6",
        userConcurrentAnswers="2",
    )
    import aws_cdk as cdk

    template = cdk.assertions.Template.from_stack(stack).to_json()
    variables = function_env(template)
    assert variables["USER_TOKENS_PER_DAY"] == "20000"
    assert variables["USER_REQUESTS_PER_MINUTE"] == "6"
    assert variables["USER_CONCURRENT_ANSWERS"] == "2"


def test_without_context_the_class_defaults_hold(synthesized: Synthesized) -> None:
    """The defaults themselves, and turning them off: test_fair_use.py."""
    variables = function_env(synthesized.template)
    assert {name for name in variables if name.startswith("USER_")} == {
        "USER_REQUESTS_PER_MINUTE",
        "USER_CONCURRENT_ANSWERS",
    }


@pytest.mark.parametrize("bad", ["0", "-3", "lots", "1.5"])
def test_a_bad_limit_fails_synth(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="userTokensPerDay must be a whole number"):
        synthesize(tmp_path, userTokensPerDay=bad)


def test_usage_counts_expire_by_ttl(synthesized: Synthesized) -> None:
    _, table = synthesized.one("AWS::DynamoDB::Table")
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt",
        "Enabled": True,
    }


def test_log_metric_filters_read_the_gateways_log_group(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    log_group = refs(function["Properties"]["LoggingConfig"]["LogGroup"])
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in synthesized.resources("AWS::Logs::MetricFilter").values()
    }
    assert set(filters) == set(LOG_METRICS)
    for name, props in filters.items():
        assert refs(props["LogGroupName"]) == log_group
        assert props["FilterPattern"] == LOG_METRICS[name][0]
        transformation = props["MetricTransformations"][0]
        assert transformation["MetricNamespace"] == NAMESPACE
        assert transformation["MetricValue"] == LOG_METRICS[name][1]


def test_the_dashboard_shows_what_operators_need(synthesized: Synthesized) -> None:
    _, dashboard = synthesized.one("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Requests, 5xx and throttled",
        "Latency of a whole answer",
        "Time to first token",
        "Speed of answers (tokens/s)",
        "Tokens per day",
        "Top users by tokens",
        "Errors by status",
    ):
        assert title in body, title
    shown_metrics = ("Errors5xx", "Throttled", "FirstTokenMs", "TokensPerSecond", "p10", "p99")
    for shown in (*shown_metrics, "p50", "CompletionTokens"):
        assert shown in body, shown
    assert "stats sum(tokens) as tokensUsed" in body and "by user" in body


def test_one_alarm_watches_the_gateways_5xx_rate(synthesized: Synthesized) -> None:
    [alarm] = synthesized.resources("AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["Threshold"] == 5
    assert props["EvaluationPeriods"] == 3
    assert props["TreatMissingData"] == "notBreaching"
    [expression] = [m for m in props["Metrics"] if "Expression" in m]
    assert "errors / requests" in expression["Expression"]
    used = {m["MetricStat"]["Metric"]["MetricName"] for m in props["Metrics"] if "MetricStat" in m}
    assert used == {"Errors5xx", "Requests"}
