"""/docs (Swagger UI) and /redoc work on a closed network: every script, style sheet and icon
they load is served by the server itself, from a package, never from a CDN."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_load_every_asset_from_the_server_itself(http, page):
    answer = await http.get(page)

    assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
    assets = [a or b for a, b in ASSET.findall(answer.text)]
    assert assets, "the page names no assets"
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"{page} loads {asset}"
        loaded = await http.get(asset)
        assert loaded.status_code == 200, f"{asset}: {loaded.status_code}"
        assert loaded.content
