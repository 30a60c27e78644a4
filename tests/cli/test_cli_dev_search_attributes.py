"""`perdure dev --search-attribute Name=Type`, as `temporal server start-dev` takes it."""

from __future__ import annotations

from tests.cli.test_cli_dev import clean_environment, run
from tests.conftest import free_port


def test_a_search_attribute_without_a_type_is_a_usage_error(tmp_path):
    refused = run("dev", "--search-attribute", "CustomerId", cwd=tmp_path, env=clean_environment())
    assert refused.returncode == 2
    assert "expected Name=Type" in refused.stderr


def test_an_unknown_search_attribute_type_is_refused_before_serving(tmp_path):
    refused = run(
        "dev",
        "--port",
        str(free_port()),
        "--search-attribute",
        "CustomerId=Colour",
        cwd=tmp_path,
        env=clean_environment(),
    )
    assert refused.returncode == 2
    assert "perdure:" in refused.stdout and "Colour" in refused.stdout
