"""What operators watch: a CloudWatch dashboard from the gateway's JSON log lines, and an alarm
on its 5xx rate (README "Operating it")."""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from simplechat_infra.chat_api import ChatApi

NAMESPACE = "Simplechat/Gateway"
#: The gateway logs one JSON object per request (chat_gateway/request_log.py); these filters
#: turn fields of it into metrics: (metric, filter pattern, value).
LOG_METRICS = {
    "Requests": ("{ $.status > 0 }", "1"),
    "Errors5xx": ("{ $.status >= 500 }", "1"),
    "Throttled": ("{ $.status = 429 }", "1"),
    "LatencyMs": ("{ $.latencyMs >= 0 && $.route NOT EXISTS }", "$.latencyMs"),
    "FirstTokenMs": ("{ $.firstTokenMs >= 0 }", "$.firstTokenMs"),
    "TokensPerSecond": ("{ $.tokensPerSecond > 0 }", "$.tokensPerSecond"),
    "PromptTokens": ("{ $.promptTokens > 0 }", "$.promptTokens"),
    "CompletionTokens": ("{ $.completionTokens > 0 }", "$.completionTokens"),
}
#: The alarm: more than this share of the gateway's answers are 5xx for 15 minutes (with at
#: least a few requests: one failed request on a quiet day is not an outage).
ERROR_RATE_PERCENT = 5
MIN_REQUESTS = 5
TOP_USERS_QUERY = [
    "fields coalesce(promptTokens, 0) + coalesce(completionTokens, 0) as tokens",
    "filter ispresent(completionTokens)",
    "stats sum(tokens) as tokensUsed, count(*) as answers by user",
    "sort tokensUsed desc",
    "limit 10",
]
ERRORS_QUERY = [
    "filter status >= 400",
    "stats count(*) as requests by status, throttled",
    "sort requests desc",
]


class Operations(Construct):
    """`dashboard` and `error_alarm`, over the gateway function's log group."""

    def __init__(self, scope: Construct, construct_id: str, *, chat_api: ChatApi) -> None:
        super().__init__(scope, construct_id)
        log_group = chat_api.log_group
        metric = {
            name: self._log_metric(log_group, name, *spec) for name, spec in LOG_METRICS.items()
        }
        five_minutes = Duration.minutes(5)

        def sum_of(name: str, period: Duration = five_minutes) -> cloudwatch.IMetric:
            return metric[name].with_(statistic="Sum", period=period, label=name)

        def percentile(name: str, p: str) -> cloudwatch.IMetric:
            return metric[name].with_(statistic=p, period=five_minutes, label=f"{name} {p}")

        error_rate = cloudwatch.MathExpression(
            expression=f"IF(requests >= {MIN_REQUESTS}, 100 * errors / requests, 0)",
            using_metrics={"requests": sum_of("Requests"), "errors": sum_of("Errors5xx")},
            label="5xx %",
            period=five_minutes,
        )
        self.error_alarm = cloudwatch.Alarm(
            self,
            "Gateway5xxRate",
            alarm_description=(
                f"More than {ERROR_RATE_PERCENT}% of the chat gateway's answers were 5xx for 15 "
                "minutes: the model server is down or unreachable (is the tunnel up? run "
                "simplechat register again), or the gateway fails. See the dashboard."
            ),
            metric=error_rate,
            threshold=ERROR_RATE_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        one_day = Duration.days(1)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=one_day,
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Requests, 5xx and throttled (per 5 min)",
                        left=[sum_of("Requests"), sum_of("Errors5xx"), sum_of("Throttled")],
                        width=12,
                    ),
                    cloudwatch.AlarmWidget(title="5xx rate", alarm=self.error_alarm, width=12),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Latency of a whole answer (ms)",
                        left=[percentile("LatencyMs", "p50"), percentile("LatencyMs", "p99")],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        title="Time to first token, streamed answers (ms)",
                        left=[
                            percentile("FirstTokenMs", "p50"),
                            percentile("FirstTokenMs", "p99"),
                        ],
                        width=8,
                    ),
                    cloudwatch.GraphWidget(
                        # The slow tail is the low percentile: p10 is the slowest tenth's pace.
                        title="Speed of answers (tokens/s)",
                        left=[
                            percentile("TokensPerSecond", "p50"),
                            percentile("TokensPerSecond", "p10"),
                        ],
                        width=8,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Tokens per day",
                        left=[sum_of("PromptTokens", one_day), sum_of("CompletionTokens", one_day)],
                        stacked=True,
                        width=8,
                    ),
                    cloudwatch.LogQueryWidget(
                        title="Top users by tokens (the dashboard's time range)",
                        log_group_names=[log_group.log_group_name],
                        query_lines=TOP_USERS_QUERY,
                        width=8,
                    ),
                    cloudwatch.LogQueryWidget(
                        title="Errors by status, and which per-user limit refused",
                        log_group_names=[log_group.log_group_name],
                        query_lines=ERRORS_QUERY,
                        width=8,
                    ),
                ],
            ],
        )

    def _log_metric(
        self, log_group: logs.ILogGroup, name: str, pattern: str, value: str
    ) -> cloudwatch.Metric:
        log_metric = logs.MetricFilter(
            self,
            f"{name}Filter",
            log_group=log_group,
            filter_pattern=logs.FilterPattern.literal(pattern),
            metric_namespace=NAMESPACE,
            metric_name=name,
            metric_value=value,
        )
        return log_metric.metric()
