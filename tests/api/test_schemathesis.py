"""Property-based tests from the server's own OpenAPI schema (schemathesis, fake engine):
no 5xx and no response that contradicts the schema, over more than a thousand generated cases."""

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.support.settings import make_settings

# A generous body limit: the generated bodies should reach validation (the 413 is tested apart).
app = create_app(make_settings(max_body_bytes=64 << 20), FakeEngine(context_length=100_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
#: Cases over every operation together, at the least: hypothesis may stop early on a small space.
ENOUGH = 1000


@pytest.fixture(scope="module")
def generated() -> Iterator[Counter[str]]:
    """Cases per operation, checked once this module's cases have all run: fewer than ENOUGH
    over every operation fails the last of them (a run of some operations only, say with -k,
    is not judged)."""
    counts: Counter[str] = Counter()
    yield counts
    operations = {result.ok().label for result in schema.get_all_operations()}
    if set(counts) == operations:
        print(f"schemathesis generated {sum(counts.values())} cases")
        assert sum(counts.values()) >= ENOUGH, counts


# A schema-valid request can still be refused for reasons no JSON schema states: the prompt plus
# max_tokens must fit the model's context, and `model` must name the served model. Those 400/404s
# are tested on their own; every other check runs (no 5xx, statuses, content types, bodies,
# headers, and schema-violating requests refused).
SCHEMA_CANNOT_SAY = [schemathesis.checks.positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_schema(case: schemathesis.Case, generated: Counter[str]) -> None:
    generated[case.operation.label] += 1
    case.call_and_validate(excluded_checks=SCHEMA_CANNOT_SAY)
