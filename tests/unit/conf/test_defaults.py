"""Our defaults of library options hold in every test, not only the first
(the config fixture resets CONF between tests)."""

import pytest

from nova_proxy.conf import database


@pytest.mark.parametrize('attempt', range(2))
def test_embedded_database_is_the_default(config, attempt):
    assert config.database.connection == database.DEFAULT_CONNECTION.replace(
        '$state_path', config.state_path)
    assert config.control_exchange == 'nova'
