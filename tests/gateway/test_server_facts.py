"""What a model server says about an answer's context and speed, read from ours and others'."""

from chat_gateway.server_facts import ServerFacts, facts_of, merged, speed_fields


def test_our_servers_timings_and_context_are_read() -> None:
    facts = facts_of(
        {"context_length": 4096, "timings": {"time_to_first_token": 0.25, "tokens_per_second": 40}}
    )
    assert facts == ServerFacts(4096, 0.25, 40.0)
    assert speed_fields(facts, 10, 9.0, 9.0) == {
        "tokensPerSecond": 40.0,
        "timeToFirstTokenMs": 250,
        "measuredBy": "server",
    }


def test_llama_servers_timings_are_read_too() -> None:
    facts = facts_of({"timings": {"prompt_ms": 120.5, "predicted_per_second": 55.25}})
    assert facts == ServerFacts(None, 0.1205, 55.25)


def test_odd_values_are_dropped_not_failed() -> None:
    for odd in (
        {"context_length": "4096", "timings": {"tokens_per_second": True}},
        {"context_length": -1, "timings": "fast"},
        {"timings": {"time_to_first_token": -2}},
        "not an object",
    ):
        assert facts_of(odd) == ServerFacts()


def test_without_the_servers_timings_the_gateways_clock_is_used() -> None:
    fields = speed_fields(ServerFacts(), 11, 0.5, 2.0)
    assert fields == {"tokensPerSecond": 5.0, "timeToFirstTokenMs": 500, "measuredBy": "gateway"}
    assert speed_fields(ServerFacts(), 1, None, None)["tokensPerSecond"] is None


def test_a_later_event_says_more() -> None:
    first = facts_of({"context_length": 2048})
    later = facts_of({"timings": {"tokens_per_second": 3}})
    assert merged(first, later) == ServerFacts(2048, None, 3.0)
