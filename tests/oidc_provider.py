"""A loopback OpenID provider for the console's sign-in tests, built on Authlib's server parts.

Authorization code flow with PKCE required (RFC 7636), OpenID Connect ID tokens signed with an
RSA key from its JWKS, refresh tokens, a discovery document and a userinfo endpoint. It signs
in whichever user the test put in `provider.user` (no login form) and can be told to refuse
refreshes. Runs on 127.0.0.1 in the suite's event loop.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import serving


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class User:
    id: str
    claims: dict[str, Any]


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token:
    data: dict[str, Any]
    client_id: str
    user: User
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.data.get("scope", "")

    def get_expires_in(self) -> int:
        return int(self.data.get("expires_in", 0))

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> None:
        return None


class Request_(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, data: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._args = data

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._args


class Provider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "loopback", "use": "sig"})
        self.client = Client("perdure-console", secrets.token_urlsafe(16))
        self.user = User("ada", {})
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.refuse_refresh = False
        self.access_token_seconds = 60
        self.refreshes = 0
        self.base_url = ""
        self.server = self._authorization_server()

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: Any) -> None:
                provider.tokens[token["refresh_token"]] = Token(
                    dict(token), request.client.client_id, request.user
                )

            def create_oauth2_request(self, request: Any) -> OAuth2Request:
                return request

            def create_json_request(self, request: Any) -> Any:
                return request

            def handle_response(self, status: int, body: Any, headers: Any) -> Response:
                headers = dict(headers)
                if isinstance(body, dict):
                    return JSONResponse(body, status_code=status, headers=headers)
                return Response(body or "", status_code=status, headers=headers)

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                args = request.payload.data
                provider.codes[code] = Code(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=args.get("redirect_uri", ""),
                    scope=request.scope,
                    user=request.user,
                    nonce=args.get("nonce"),
                    code_challenge=args.get("code_challenge"),
                    code_challenge_method=args.get("code_challenge_method"),
                    auth_time=int(time.time()),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> User:
                return authorization_code.user

        class IDToken(OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Client) -> Any:
                return provider.key

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                now = int(time.time())
                return {"iss": provider.base_url, "aud": [client.client_id], "exp": now + 3600}

            def generate_user_info(self, user: User, scope: str) -> UserInfo:
                return UserInfo(sub=user.id, **user.claims)

        class Refresh(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                found = provider.tokens.get(refresh_token)
                if provider.refuse_refresh or found is None or found.revoked:
                    return None
                return found

            def authenticate_user(self, credential: Token) -> User:
                provider.refreshes += 1
                return provider.user  # claims as they are now, not as they were

            def revoke_old_credential(self, credential: Token) -> None:
                credential.revoked = True

        server = Server()
        server.register_token_generator("default", self._bearer_token)
        server.register_grant(
            CodeGrant, [CodeChallenge(required=True), IDToken(require_nonce=True)]
        )
        server.register_grant(Refresh)
        return server

    def _bearer_token(
        self,
        grant_type: str,
        client: Any,
        user: Any = None,
        scope: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token = {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(24),
            "expires_in": self.access_token_seconds,
            "scope": scope,
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(24)
        return token

    async def _request(self, request: Request) -> Request_:
        data = dict(request.query_params)
        if request.method == "POST":
            data.update(dict(parse_qsl((await request.body()).decode())))
        return Request_(request.method, str(request.url), request.headers, data)

    def app(self) -> Starlette:
        async def discovery(request: Request) -> JSONResponse:
            base = self.base_url
            return JSONResponse(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "userinfo_endpoint": f"{base}/userinfo",
                    "jwks_uri": f"{base}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                }
            )

        async def jwks(request: Request) -> JSONResponse:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def authorize(request: Request) -> Response:
            return self.server.create_authorization_response(
                await self._request(request), grant_user=self.user
            )

        async def token(request: Request) -> Response:
            return self.server.create_token_response(await self._request(request))

        async def userinfo(request: Request) -> JSONResponse:
            return JSONResponse({"sub": self.user.id, **self.user.claims})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/userinfo", userinfo),
            ]
        )


@asynccontextmanager
async def running_provider() -> AsyncIterator[Provider]:
    provider = Provider()
    # The issuer URL must be known before the first request: the app reads it when called.
    async with serving(provider.app()) as base_url:
        provider.base_url = base_url
        yield provider
