"""One user cannot starve the class on AWS: per-user limits, POST /chat's own throttle and the
gateway's reserved concurrency are on without any -c, overridable, and checked at synth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cdk_template import Synthesized, function_env, gateway_function, synthesize

OVERRIDES = {
    "userConcurrentAnswers": "3",
    "userRequestsPerMinute": "20",
    "userTokensPerDay": "50000",
    "chatRateLimit": "2.5",
    "chatBurstLimit": "4",
    "gatewayReservedConcurrency": "950",
}
ALL_OFF = {
    "userConcurrentAnswers": "off",
    "userRequestsPerMinute": "OFF",
    "userTokensPerDay": "off",
    "gatewayReservedConcurrency": "off",
}


def stage_settings(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The stage's method settings by (resource path, HTTP method); ("/*", "*") is the default."""
    [stage] = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    return {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["Properties"]["MethodSettings"]}


def synth_template(tmp_path: Path, **context: str) -> tuple[dict[str, Any], Any]:
    from aws_cdk.assertions import Template

    _, stack = synthesize(tmp_path, **context)
    return Template.from_stack(stack).to_json(), stack


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    return synth_template(tmp_path_factory.mktemp("overridden"), **OVERRIDES)


@pytest.fixture(scope="module")
def all_off(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    template, _ = synth_template(tmp_path_factory.mktemp("off"), **ALL_OFF)
    return template


def test_by_default_each_user_gets_two_answers_and_ten_messages_a_minute(
    synthesized: Synthesized,
) -> None:
    env = function_env(synthesized.template)
    assert env["USER_CONCURRENT_ANSWERS"] == "2"
    assert env["USER_REQUESTS_PER_MINUTE"] == "10"
    # no daily token limit by default: a cap that runs out mid-lesson locks a student out
    assert "USER_TOKENS_PER_DAY" not in env
    # the gateway counts the limits in the conversations' table: it must be there too
    assert env["CONVERSATIONS_TABLE"]


def test_by_default_post_chat_has_its_own_lower_throttle(synthesized: Synthesized) -> None:
    settings = stage_settings(synthesized.template)
    default = settings["/*", "*"]
    assert (default["ThrottlingRateLimit"], default["ThrottlingBurstLimit"]) == (10, 20)
    chat = settings["/~1chat", "POST"]  # "~1" is the "/" of a resource path in a setting
    assert (chat["ThrottlingRateLimit"], chat["ThrottlingBurstLimit"]) == (5, 10)
    assert set(settings) == {("/*", "*"), ("/~1chat", "POST")}  # cancel keeps the stage's


def test_by_default_the_gateway_has_reserved_concurrency(synthesized: Synthesized) -> None:
    _, function = gateway_function(synthesized)
    assert function["Properties"]["ReservedConcurrentExecutions"] == 100


def test_every_default_can_be_overridden(overridden: tuple[dict[str, Any], Any]) -> None:
    template, _ = overridden
    env = function_env(template)
    assert env["USER_CONCURRENT_ANSWERS"] == "3"
    assert env["USER_REQUESTS_PER_MINUTE"] == "20"
    assert env["USER_TOKENS_PER_DAY"] == "50000"
    chat = stage_settings(template)["/~1chat", "POST"]
    assert (chat["ThrottlingRateLimit"], chat["ThrottlingBurstLimit"]) == (2.5, 4)
    _, function = gateway_function(Synthesized(Path("."), template))
    assert function["Properties"]["ReservedConcurrentExecutions"] == 950


def test_a_reservation_past_the_usual_quota_warns(overridden: tuple[dict[str, Any], Any]) -> None:
    from aws_cdk.assertions import Annotations, Match

    _, stack = overridden
    Annotations.from_stack(stack).has_warning(
        "*", Match.string_like_regexp("gatewayReservedConcurrency=950 leaves fewer than 100")
    )


def test_limits_and_the_reservation_can_be_turned_off(all_off: dict[str, Any]) -> None:
    env = function_env(all_off)
    assert not {name for name in env if name.startswith("USER_")}
    _, function = gateway_function(Synthesized(Path("."), all_off))
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    # POST /chat keeps its throttle: API Gateway's own 429 costs nothing
    chat = stage_settings(all_off)["/~1chat", "POST"]
    assert (chat["ThrottlingRateLimit"], chat["ThrottlingBurstLimit"]) == (5, 10)


@pytest.mark.parametrize("name", ["userConcurrentAnswers", "userRequestsPerMinute"])
def test_self_sign_up_refuses_a_limit_turned_off(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}=off is refused with selfSignUp=true"):
        synthesize(tmp_path, selfSignUp="true", **{name: "off"})


def test_self_sign_up_keeps_the_defaults(tmp_path: Path) -> None:
    template, _ = synth_template(tmp_path, selfSignUp="true", userTokensPerDay="off")
    env = function_env(template)
    assert (env["USER_CONCURRENT_ANSWERS"], env["USER_REQUESTS_PER_MINUTE"]) == ("2", "10")


WHOLE = "must be a whole number of"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"userConcurrentAnswers": "0"}, f"userConcurrentAnswers {WHOLE} 1 or more, or off"),
        ({"userRequestsPerMinute": "many"}, f"userRequestsPerMinute {WHOLE}"),
        ({"gatewayReservedConcurrency": "0"}, f"gatewayReservedConcurrency {WHOLE} 3 or more"),
        ({"gatewayReservedConcurrency": "2"}, "plus one for the cancel"),
        ({"gatewayReservedConcurrency": "-5"}, "or off to reserve none"),
        ({"gatewayReservedConcurrency": "4", "userConcurrentAnswers": "4"}, f"{WHOLE} 5 or more"),
        ({"chatRateLimit": "0"}, "chatRateLimit must be a number of requests a second above 0"),
        ({"chatRateLimit": "fast"}, "chatRateLimit must be"),
        ({"chatRateLimit": "inf"}, "chatRateLimit must be"),
        ({"chatBurstLimit": "0"}, f"chatBurstLimit {WHOLE} 1 or more"),
    ],
)
def test_a_silly_number_fails_synth(tmp_path: Path, context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(tmp_path, **context)
