"""Fair use of one model server by a class: per-user limits, POST /chat throttling and the
gateway's reserved concurrency, on by default, read from -c and checked at synth."""

import math
from dataclasses import dataclass, field

from constructs import Node

#: -c names of the per-user limits -> the gateway's variables (docs/limits.md).
LIMIT_CONTEXT = {
    "userTokensPerDay": "USER_TOKENS_PER_DAY",
    "userRequestsPerMinute": "USER_REQUESTS_PER_MINUTE",
    "userConcurrentAnswers": "USER_CONCURRENT_ANSWERS",
}
#: The word that turns a limit off (the gateway's own "no limit" is an unset variable). 0 is
#: refused rather than read as "off": for a limit it reads as "none allowed" just as well.
OFF = "off"
#: What a class of about 100 students gets without any -c. Two answers at once leave room for a
#: second tab or a regenerate while one answer finishes, but not for one account holding twenty
#: 15-minute streams; ten messages a minute is more than a person types (one every 6 s) and stops
#: a script. No daily token limit: the model server is the class's own (no bill per token), the
#: two limits above already cap one user's share of it at any moment, and a daily cap that runs
#: out mid-lesson locks a student out until 00:00 UTC. Set one with -c userTokensPerDay=N.
DEFAULT_USER_LIMITS = {
    "USER_REQUESTS_PER_MINUTE": 10,
    "USER_CONCURRENT_ANSWERS": 2,
}
#: With self sign-up anyone can make an account, so these may not be turned off.
REQUIRED_WITH_SIGN_UP = ("userConcurrentAnswers", "userRequestsPerMinute")
#: POST /chat starts a generation (and a Lambda that may stream for 15 minutes): its own bucket,
#: lower than the stage's 10 requests a second (burst 20) that the cheap routes keep. 5 a second
#: is 300 new answers a minute for the whole class, more than one model server can start; past
#: it API Gateway answers 429 before any Lambda runs. (API Gateway applies a stage's limits to
#: each method on its own, so the conversation routes keep theirs while /chat is busy.)
DEFAULT_CHAT_RATE = 5.0
DEFAULT_CHAT_BURST = 10
#: At most this many gateway instances at once (each stream holds one for its whole answer): one
#: running answer per student of a class of 100. It caps what a flood of accounts can cost and
#: keeps the account's other functions their concurrency. Lambda refuses a reservation that
#: leaves fewer than 100 unreserved executions in the account: new accounts whose concurrency
#: quota is still 10 cannot reserve any, and need -c gatewayReservedConcurrency=off (or a quota
#: increase); with the usual quota of 1000 the most is 900.
DEFAULT_RESERVED_CONCURRENCY = 100
USUAL_ACCOUNT_QUOTA = 1000
MIN_UNRESERVED = 100


def _limit(name: str, raw: object) -> int | None:
    """A per-user limit from -c: a whole number of 1 or more, or None for `off`."""
    text = str(raw).strip().lower()
    if text == OFF:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more, or {OFF}, got {raw!r}")
    return int(text)


def _given(node: Node, name: str) -> object | None:
    raw = node.try_get_context(name)
    return None if raw is None or str(raw).strip() == "" else raw


def user_limits(node: Node) -> dict[str, int]:
    """The per-user limits as the gateway's USER_* variables (absent: off), defaults included;
    a typo must not deploy a gateway that refuses every message as misconfigured."""
    limits = dict(DEFAULT_USER_LIMITS)
    for name, variable in LIMIT_CONTEXT.items():
        raw = _given(node, name)
        if raw is None:
            continue
        value = _limit(name, raw)
        if value is None:
            limits.pop(variable, None)
        else:
            limits[variable] = value
    return limits


@dataclass(frozen=True, kw_only=True)
class FairUse:
    """What keeps one user (or a flood of accounts) from starving the class on AWS."""

    #: the gateway's USER_* variables; a limit that is off is absent
    user_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USER_LIMITS))
    #: POST /chat's own throttle (requests a second, and the bucket's size)
    chat_rate_limit: float = DEFAULT_CHAT_RATE
    chat_burst_limit: int = DEFAULT_CHAT_BURST
    #: the gateway function's reserved concurrency; None: none reserved
    reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY

    def refuse_off_with_sign_up(self) -> None:
        """With self sign-up anyone can make an account: the per-user limits must hold."""
        for name in REQUIRED_WITH_SIGN_UP:
            variable = LIMIT_CONTEXT[name]
            if variable not in self.user_limits:
                raise ValueError(
                    f"{name}={OFF} is refused with selfSignUp=true: anyone can make an account "
                    "then, and one account without this limit can take the model server from "
                    f"the whole class. Give a number (the default is "
                    f"{DEFAULT_USER_LIMITS[variable]}), or leave selfSignUp off."
                )

    @classmethod
    def from_context(cls, node: Node) -> "FairUse":
        limits = user_limits(node)
        rate = _given(node, "chatRateLimit")
        burst = _given(node, "chatBurstLimit")
        reserved = _given(node, "gatewayReservedConcurrency")
        return cls(
            user_limits=limits,
            chat_rate_limit=DEFAULT_CHAT_RATE if rate is None else _rate(rate),
            chat_burst_limit=DEFAULT_CHAT_BURST if burst is None else _burst(burst),
            reserved_concurrency=(
                DEFAULT_RESERVED_CONCURRENCY if reserved is None else _reserved(reserved, limits)
            ),
        )


def _rate(raw: object) -> float:
    try:
        rate = float(str(raw).strip())
    except ValueError:
        rate = 0.0
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(
            f"chatRateLimit must be a number of requests a second above 0, got {raw!r}"
        )
    return rate


def _burst(raw: object) -> int:
    text = str(raw).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"chatBurstLimit must be a whole number of 1 or more, got {raw!r}")
    return int(text)


def _reserved(raw: object, limits: dict[str, int]) -> int | None:
    """The reservation must hold one user's allowed answers and one more instance (the cancel
    that stops them, or a conversation list), or the app stalls for everyone."""
    text = str(raw).strip().lower()
    if text == OFF:
        return None
    minimum = limits.get("USER_CONCURRENT_ANSWERS", 1) + 1
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(
            f"gatewayReservedConcurrency must be a whole number of {minimum} or more (one "
            "user's concurrent answers plus one for the cancel that stops them), or off to "
            f"reserve none (accounts whose Lambda concurrency quota is 10), got {raw!r}"
        )
    return int(text)
