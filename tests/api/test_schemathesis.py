"""Property-based tests from the server's own OpenAPI schema (schemathesis, fake engine):
no 5xx and no response that contradicts the schema, over more than a thousand generated cases."""

import schemathesis
from hypothesis import HealthCheck, settings

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.conftest import make_settings

# A generous body limit: the generated bodies should reach validation (the 413 is tested apart).
app = create_app(make_settings(max_body_bytes=64 << 20), FakeEngine(context_length=100_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
generated: list[str] = []


# A schema-valid request can still be refused for reasons no JSON schema states: the prompt plus
# max_tokens must fit the model's context, and `model` must name the served model. Those 400/404s
# are tested on their own; every other check runs (no 5xx, statuses, content types, bodies,
# headers, and schema-violating requests refused).
SCHEMA_CANNOT_SAY = [schemathesis.checks.positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_schema(case: schemathesis.Case) -> None:
    generated.append(case.operation.label)
    case.call_and_validate(excluded_checks=SCHEMA_CANNOT_SAY)


def test_enough_cases_were_generated() -> None:
    print(f"schemathesis generated {len(generated)} cases")
    assert len(generated) >= 1000, len(generated)
