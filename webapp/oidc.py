"""Single sign-on with the school's OpenID Connect provider (Google Workspace, Microsoft
Entra ID or any other), as a relying party. No Quart: the views in
``webapp.views.sso`` keep the per-browser secrets in the signed session.

The flow is the authorization code flow with PKCE (RFC 7636, S256):

1. ``Provider.start`` makes a random ``state`` (ties the answer to this
   browser), ``nonce`` (ties the ID token to this sign-in) and PKCE
   ``code_verifier``, and the authorization URL (Authlib's
   ``AsyncOAuth2Client.create_authorization_url``).
2. The provider sends the browser back with a code; the view checks ``state``
   against the session (and forgets it: an answer works once).
3. ``Provider.finish`` exchanges the code, with the verifier and the client
   secret, at the token endpoint (``AsyncOAuth2Client.fetch_token``), then checks
   the ID token with joserfc: its signature against the provider's published
   keys (JWKS, fetched again once when a key is not found, as providers rotate
   keys), ``iss``, ``aud`` (our client id; ``azp`` too when there are several
   audiences), ``exp``/``iat``, and ``nonce``. The email must be verified
   (``email_verified``, or Microsoft's ``xms_edov``, "email domain owner
   verified").

Every network call has a timeout; any failure is an ``SsoError`` whose message
can be shown to the person signing in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from webapp.config import Settings

TIMEOUT = 10.0
METADATA_LIFETIME = 3600.0
KEYS_REFRESH_AT_MOST_EVERY = 60.0
SCOPE = "openid email profile"
# Asymmetric algorithms only: "none" and the HS* family (keyed with the client
# secret, which the provider is not the only one to know) are never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
CLOCK_LEEWAY = 60


class SsoError(Exception):
    """The sign-in cannot go on; ``str(error)`` says why, in words for the person."""


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """A person the provider vouches for, with a verified email address."""

    issuer: str
    subject: str
    email: str
    name: str


def _verified(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class Provider:
    """The configured provider: its discovery document and keys, cached in the process."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(url)
                response.raise_for_status()
                data = response.json()
        except (httpx2.HTTPError, ValueError) as error:
            raise SsoError("The school sign-in service did not answer. Try again soon.") from error
        if not isinstance(data, dict):
            raise SsoError("The school sign-in service answered something unexpected.")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (``/.well-known/openid-configuration``)."""
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_LIFETIME:
            data = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if data.get("issuer", "").rstrip("/") != self.issuer:
                raise SsoError("The school sign-in service describes another issuer.")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(name), str):
                    raise SsoError("The school sign-in service's description is incomplete.")
            self._metadata, self._metadata_at = data, time.monotonic()
        return self._metadata

    async def _key_set(self, refresh: bool) -> KeySet:
        stale = time.monotonic() - self._keys_at > KEYS_REFRESH_AT_MOST_EVERY
        if self._keys is None or (refresh and stale):
            data = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as error:
                raise SsoError("The school sign-in service's keys cannot be read.") from error
            self._keys_at = time.monotonic()
        return self._keys

    def _client(self, redirect_uri: str, auth_method: str = "client_secret_basic"):
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=SCOPE,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=auth_method,
            timeout=TIMEOUT,
        )

    async def start(self, redirect_uri: str) -> Started:
        """Where to send the browser, and the secrets to keep until it comes back."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        async with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                endpoint, state=secrets.token_urlsafe(32), code_verifier=verifier, nonce=nonce
            )
        return Started(url, state, nonce, verifier)

    def _auth_method(self, metadata: dict[str, Any]) -> str:
        supported = metadata.get("token_endpoint_auth_methods_supported")
        if isinstance(supported, list) and "client_secret_basic" not in supported:
            return "client_secret_post"
        return "client_secret_basic"

    async def finish(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> Identity:
        """Exchange the code and check the ID token; the verified person, or SsoError."""
        metadata = await self.metadata()
        try:
            async with self._client(redirect_uri, self._auth_method(metadata)) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
                id_token = token.get("id_token")
                if not isinstance(id_token, str):
                    raise SsoError("The school sign-in service sent no ID token.")
                claims = await self._checked_claims(id_token, nonce)
                if "email" not in claims and isinstance(metadata.get("userinfo_endpoint"), str):
                    user_info = await self._user_info(client, metadata)
                    # OpenID Connect Core 5.3.2: the answer must be about the same person.
                    if user_info.get("sub") != claims["sub"]:
                        raise SsoError("The school sign-in service described someone else.")
                    claims = {**user_info, **claims}
        except OAuthError as error:
            raise SsoError("The school sign-in service refused the sign-in.") from error
        except httpx2.HTTPError as error:
            raise SsoError("The school sign-in service did not answer. Try again soon.") from error
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SsoError("The school account has no email address to sign in with.")
        if not (_verified(claims.get("email_verified")) or _verified(claims.get("xms_edov"))):
            raise SsoError("The school account's email address is not verified.")
        name = claims.get("name")
        return Identity(
            self.issuer, str(claims["sub"]), email.strip(), name if isinstance(name, str) else ""
        )

    async def _user_info(self, client: AsyncOAuth2Client, metadata: dict) -> dict[str, Any]:
        response = await client.get(metadata["userinfo_endpoint"])
        response.raise_for_status()
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def _checked_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        decoded = None
        for refresh in (False, True):
            try:
                decoded = jwt.decode(id_token, await self._key_set(refresh), algorithms=ALGORITHMS)
                break
            except (JoseError, ValueError) as error:
                if refresh:
                    raise SsoError(
                        "The school sign-in service's answer failed its signature check."
                    ) from error
        assert decoded is not None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise SsoError(
                "The school sign-in service's answer was not meant for this library."
            ) from error
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SsoError("The school sign-in service's answer was not meant for this library.")
        sent_back = claims.get("nonce")
        if not isinstance(sent_back, str) or not hmac.compare_digest(sent_back, nonce):
            raise SsoError("The school sign-in service's answer does not belong to this sign-in.")
        return claims
