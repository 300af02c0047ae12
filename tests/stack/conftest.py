"""A local user pool (moto, with the stack's own layer and key) and one user in it."""

from collections.abc import Iterator

import pytest

from simplechat.stack.cognito import LocalCognito

PASSWORD = "Good-password-123"


@pytest.fixture(scope="module")
def cognito() -> Iterator[LocalCognito]:
    local = LocalCognito()
    local.add_user("user@example.com", PASSWORD)
    yield local
    local.stop()
