"""The access-token verifier accepts the auth service's tokens and refuses everything else."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from fireline_runtime import jose
from fireline_runtime.jose import ALL_ALGORITHMS, LEGACY_EDDSA, Algorithm
from fireline_runtime.settings import TokenSettings
from fireline_runtime.tokens import (
    InvalidToken,
    JwksCache,
    KeySetUnavailable,
    Principal,
    TokenVerifier,
)
from support.jose_spellings import respellings

ORG_ID = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7e4a13"
ISSUER = "https://auth.fireline.test"
AUDIENCE = "fireline"
NOW = 1_700_000_000.0
FLOOR_S = 30.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


class SigningKey:
    """An auth-service signing key of one algorithm: mints tokens and publishes its JWK.

    ``header_alg`` is what its tokens name: ``EdDSA`` stands for an Ed25519 key whose tokens use
    RFC 8037's older name, as tokens issued before RFC 9864's did.
    """

    def __init__(self, kid: str, header_alg: str = "Ed25519") -> None:
        self.kid = kid
        self.header_alg = header_alg
        alg = Algorithm.ED25519 if header_alg == LEGACY_EDDSA else Algorithm(header_alg)
        self.signer = jose.SigningKey.from_der(alg, jose.generate_private_key(alg))

    def jwk(self) -> dict[str, str]:
        jwk = self.signer.public_jwk(self.kid)
        del jwk["alg"]  # optional in a JWK (RFC 7517 §4.4); the key type alone must suffice
        return jwk

    def public_pem(self) -> bytes:
        return self.signer.public_pem()

    def mint(
        self,
        *,
        drop: Iterable[str] = (),
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        head: dict[str, Any] = {"alg": self.header_alg, "typ": "at+jwt", "kid": self.kid}
        head.update(header or {})
        body = token_claims(**claims)
        for name in drop:
            head.pop(name, None)
            body.pop(name, None)
        signing_input = f"{b64url_json(head)}.{b64url_json(body)}"
        return f"{signing_input}.{b64url(self.signer.sign(signing_input.encode()))}"


def token_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "key_1",
        "client_id": "key_1",
        "org_id": ORG_ID,
        "scope": "incidents:read incidents:write",
        "iat": int(NOW),
        "exp": int(NOW) + 900,
        "jti": "jti_1",
    }
    claims.update(overrides)
    return claims


class FakeJwksEndpoint:
    """The auth service's JWKS endpoint; counts fetches and can be taken down."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.extra_entries: list[dict[str, Any]] = []
        self.calls = 0
        self.down = False

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(0)  # a real fetch yields; lets concurrent verifications overlap it
        if self.down:
            raise httpx.ConnectError("connection refused")
        return {"keys": [*self.extra_entries, *(k.jwk() for k in self.keys)]}


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


HEADER_ALGS = ["RS256", "ES256", "Ed25519", LEGACY_EDDSA]


@pytest.fixture(params=HEADER_ALGS)
def key(request: pytest.FixtureRequest) -> SigningKey:
    """Every test that takes a key runs once per algorithm a Fireline token may be signed with."""
    return SigningKey("k1", request.param)


@pytest.fixture
def endpoint(key: SigningKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint(key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def verifier(endpoint: FakeJwksEndpoint, clock: FakeClock) -> TokenVerifier:
    jwks = JwksCache(endpoint, min_refetch_interval_s=FLOOR_S, max_age_s=300, clock=clock)
    return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, leeway_s=30, clock=clock)


async def refused(verifier: TokenVerifier, token: str) -> str:
    """Assert the token is refused without echoing it; return the reason the client sees."""
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    assert not token or token not in str(caught.value)
    # PyJWT's own message may quote the token, so it must not ride along in the chain either.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return caught.value.reason


async def test_valid_token_yields_principal(verifier: TokenVerifier, key: SigningKey) -> None:
    principal = await verifier.verify(key.mint())

    assert principal == Principal(
        key_id="key_1",
        org_id=UUID(ORG_ID),
        scopes=frozenset({"incidents:read", "incidents:write"}),
        jti="jti_1",
        expires_at=int(NOW) + 900,
        issued_at=NOW,
        secret_fingerprint=None,  # tokens minted before auth named the secret have none
    )
    assert principal.has_scope("incidents:read")
    assert not principal.has_scope("integrations:write")


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_accepts_every_spelling_of_the_access_token_type(
    verifier: TokenVerifier, key: SigningKey, typ: str
) -> None:
    principal = await verifier.verify(key.mint(header={"typ": typ}))

    assert principal.org_id == UUID(ORG_ID)


async def test_empty_scope_yields_no_scopes(verifier: TokenVerifier, key: SigningKey) -> None:
    principal = await verifier.verify(key.mint(scope=""))

    assert principal.scopes == frozenset()


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_refuses_unsigned_token(
    verifier: TokenVerifier, endpoint: FakeJwksEndpoint, alg: str
) -> None:
    header = {"alg": alg, "typ": "at+jwt", "kid": "k1"}
    token = f"{b64url_json(header)}.{b64url_json(token_claims())}."

    assert await refused(verifier, token) == "algorithm not allowed"
    assert endpoint.calls == 0


async def test_refuses_hs256_keyed_with_our_public_key(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint
) -> None:
    # The classic confusion attack: the public key is known to everyone, so a verifier that let
    # the token pick HMAC would accept anything signed with it.
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing_input = f"{b64url_json(header)}.{b64url_json(token_claims(scope='admin'))}"
    for secret in (key.public_pem(), json.dumps(key.jwk()).encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"

        assert await refused(verifier, token) == "algorithm not allowed"
    assert endpoint.calls == 0


@pytest.mark.parametrize("alg", ["HS512", "PS256", "RS384", "ES512", "ES256K", ""])
async def test_refuses_algorithms_outside_the_allow_list(
    verifier: TokenVerifier, key: SigningKey, alg: str
) -> None:
    token = key.mint(header={"alg": alg})

    assert await refused(verifier, token) == "algorithm not allowed"


async def test_refuses_a_token_whose_alg_is_not_its_keys(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint
) -> None:
    # Every other allowed name, each signed correctly by the key under that name's rules: the
    # key's type, never the header, decides how the signature is checked.
    others = [alg for alg in HEADER_ALGS if not {alg, key.header_alg} <= {"Ed25519", "EdDSA"}]
    for alg in others:
        if alg == key.header_alg:
            continue
        impostor = SigningKey(key.kid, alg)
        assert await refused(verifier, impostor.mint()) == "algorithm does not match key"


async def test_a_narrower_allow_list_refuses_the_other_algorithms(
    endpoint: FakeJwksEndpoint, clock: FakeClock, key: SigningKey
) -> None:
    jwks = JwksCache(endpoint, min_refetch_interval_s=FLOOR_S, max_age_s=300, clock=clock)
    only_rs256 = TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, clock=clock, algorithms=frozenset({"RS256"})
    )

    if key.header_alg == "RS256":
        assert (await only_rs256.verify(key.mint())).org_id == UUID(ORG_ID)
    else:
        assert await refused(only_rs256, key.mint()) == "algorithm not allowed"


@pytest.mark.parametrize("header", [{"typ": "JWT"}, {"typ": "at+jwt+x"}, {"typ": 1}])
async def test_refuses_tokens_that_are_not_access_tokens(
    verifier: TokenVerifier, key: SigningKey, header: dict[str, Any]
) -> None:
    assert await refused(verifier, key.mint(header=header)) == "not an access token"


async def test_refuses_token_without_type(verifier: TokenVerifier, key: SigningKey) -> None:
    assert await refused(verifier, key.mint(drop=["typ"])) == "not an access token"


async def test_refuses_token_without_key_id(verifier: TokenVerifier, key: SigningKey) -> None:
    assert await refused(verifier, key.mint(drop=["kid"])) == "missing key id"


async def test_refuses_token_for_another_audience(verifier: TokenVerifier, key: SigningKey) -> None:
    assert await refused(verifier, key.mint(aud="another-api")) == "wrong audience"


async def test_accepts_audience_list_containing_ours(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    principal = await verifier.verify(key.mint(aud=["another-api", AUDIENCE]))

    assert principal.key_id == "key_1"


async def test_refuses_token_from_another_issuer(verifier: TokenVerifier, key: SigningKey) -> None:
    assert await refused(verifier, key.mint(iss="https://evil.test")) == "wrong issuer"


async def test_refuses_token_expired_beyond_leeway(
    verifier: TokenVerifier, key: SigningKey, clock: FakeClock
) -> None:
    token = key.mint(exp=int(NOW) + 60)
    clock.advance(60 + 31)

    assert await refused(verifier, token) == "token expired"


async def test_accepts_token_expired_within_leeway(
    verifier: TokenVerifier, key: SigningKey, clock: FakeClock
) -> None:
    token = key.mint(exp=int(NOW) + 60)
    clock.advance(60 + 29)

    principal = await verifier.verify(token)

    assert principal.expires_at == int(NOW) + 60


async def test_refuses_token_issued_in_the_future(verifier: TokenVerifier, key: SigningKey) -> None:
    token = key.mint(iat=int(NOW) + 120, exp=int(NOW) + 1000)

    assert await refused(verifier, token) == "token issued in the future"


@pytest.mark.parametrize(
    ("exp", "reason"),
    [
        ("soon", "invalid claim exp"),
        (True, "invalid claim exp"),
        ([1], "invalid claim exp"),
        (None, "missing claim exp"),
    ],
)
async def test_refuses_non_numeric_expiry(
    verifier: TokenVerifier, key: SigningKey, exp: object, reason: str
) -> None:
    assert await refused(verifier, key.mint(exp=exp)) == reason


async def test_refuses_tampered_payload(verifier: TokenVerifier, key: SigningKey) -> None:
    header, payload, signature = key.mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["org_id"] = "0b9e5d4c-7a21-4f63-8e10-5c3d2b1a9f87"
    forged = f"{header}.{b64url_json(claims)}.{signature}"

    assert await refused(verifier, forged) == "bad signature"


async def test_refuses_token_signed_by_unpublished_key(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    impostor = SigningKey(key.kid, key.header_alg)

    assert await refused(verifier, impostor.mint()) == "bad signature"


@pytest.mark.parametrize(
    "claim", ["exp", "iat", "iss", "aud", "sub", "jti", "client_id", "org_id", "scope"]
)
async def test_refuses_token_missing_required_claim(
    verifier: TokenVerifier, key: SigningKey, claim: str
) -> None:
    assert await refused(verifier, key.mint(drop=[claim])) == f"missing claim {claim}"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"client_id": "key_2"}, "sub and client_id differ"),
        ({"org_id": ""}, "invalid claim org_id"),
        ({"org_id": 7}, "invalid claim org_id"),
        ({"org_id": "org_1"}, "invalid claim org_id"),
        ({"scope": ["incidents:read"]}, "invalid claim scope"),
    ],
)
async def test_refuses_malformed_fireline_claims(
    verifier: TokenVerifier, key: SigningKey, claims: dict[str, Any], reason: str
) -> None:
    assert await refused(verifier, key.mint(**claims)) == reason


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "x" * 10_000])
async def test_refuses_malformed_token(verifier: TokenVerifier, token: str) -> None:
    assert await refused(verifier, token) == "malformed token"


async def test_unknown_key_id_triggers_one_refetch_per_floor(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await verifier.verify(key.mint())
    assert endpoint.calls == 1
    clock.advance(FLOOR_S + 1)

    assert await refused(verifier, SigningKey("forged-1").mint()) == "unknown signing key"
    assert endpoint.calls == 2

    clock.advance(FLOOR_S / 2)
    assert await refused(verifier, SigningKey("forged-2").mint()) == "unknown signing key"
    assert endpoint.calls == 2  # within the floor: refused from the cache, no fetch

    clock.advance(FLOOR_S)
    assert await refused(verifier, SigningKey("forged-3").mint()) == "unknown signing key"
    assert endpoint.calls == 3


async def test_unknown_key_id_on_a_cold_cache_fetches_once(
    verifier: TokenVerifier, endpoint: FakeJwksEndpoint
) -> None:
    assert await refused(verifier, SigningKey("forged").mint()) == "unknown signing key"
    assert endpoint.calls == 1


async def test_concurrent_refetches_share_one_fetch(
    verifier: TokenVerifier, endpoint: FakeJwksEndpoint, key: SigningKey
) -> None:
    results = await asyncio.gather(
        *(verifier.verify(key.mint(jti=f"jti_{i}")) for i in range(10)),
        *(verifier.verify(SigningKey(f"forged-{i}").mint()) for i in range(10)),
        return_exceptions=True,
    )

    assert [r.jti for r in results[:10] if isinstance(r, Principal)] == [
        f"jti_{i}" for i in range(10)
    ]
    assert all(isinstance(r, InvalidToken) for r in results[10:])
    assert endpoint.calls == 1


async def test_rotated_in_key_is_picked_up_by_refetch(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await verifier.verify(key.mint())
    new_key = SigningKey("k2")
    endpoint.keys.append(new_key)
    clock.advance(FLOOR_S + 1)

    principal = await verifier.verify(new_key.mint(jti="jti_new"))

    assert principal.jti == "jti_new"
    assert (await verifier.verify(key.mint())).jti == "jti_1"  # the retired key still verifies
    assert endpoint.calls == 2


async def test_key_removed_from_jwks_stops_verifying_after_max_age(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await verifier.verify(key.mint())
    endpoint.keys = [SigningKey("k2")]
    clock.advance(301)

    token = key.mint(iat=int(clock.now), exp=int(clock.now) + 900)

    assert await refused(verifier, token) == "unknown signing key"
    assert endpoint.calls == 2


async def test_only_trustworthy_signature_keys_are_taken_from_the_jwks(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint
) -> None:
    own = key.jwk()
    material = "n" if own["kty"] == "RSA" else "x"
    # A key too small to trust is the point here.
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    endpoint.keys = []
    endpoint.extra_entries = [
        {"kty": "oct", "k": b64url(b"secret"), "kid": "hmac"},
        {
            "kty": "RSA",
            "n": b64url(small_rsa.public_numbers().n.to_bytes(128, "big")),
            "e": "AQAB",
            "kid": "small-rsa",
        },
        {
            "kty": "EC",
            "crv": "P-384",
            "x": b64url(p384.x.to_bytes(48, "big")),
            "y": b64url(p384.y.to_bytes(48, "big")),
            "kid": "p384",
        },
        {**own, "kid": "enc", "use": "enc"},
        {**own, "kid": "wrong-alg", "alg": "RS256" if own["kty"] != "RSA" else "ES256"},
        {**own, "kid": "bad-material", material: "not base64!"},
        {**own, "kid": "private", "d": b64url(b"\x00" * 32)},
    ]

    for kid in ("hmac", "small-rsa", "p384", "enc", "wrong-alg", "bad-material", "private"):
        token = key.mint(header={"kid": kid})
        assert await refused(verifier, token) == "unknown signing key"


async def test_unreachable_jwks_is_reported_as_unavailable_not_invalid(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint
) -> None:
    endpoint.down = True

    with pytest.raises(KeySetUnavailable):
        await verifier.verify(key.mint())


async def test_known_keys_keep_verifying_while_jwks_is_unreachable(
    verifier: TokenVerifier, key: SigningKey, endpoint: FakeJwksEndpoint, clock: FakeClock
) -> None:
    await verifier.verify(key.mint())
    endpoint.down = True
    clock.advance(301)

    token = key.mint(iat=int(clock.now), exp=int(clock.now) + 900)

    assert (await verifier.verify(token)).key_id == "key_1"
    assert endpoint.calls == 2
    assert (await verifier.verify(token)).key_id == "key_1"
    assert endpoint.calls == 2  # a failed fetch is retried only after the floor


async def test_jwks_is_fetched_over_http(key: SigningKey) -> None:
    requested: list[str] = []

    def jwks_endpoint(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, json={"keys": [key.jwk()]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks_endpoint)) as client:
        jwks = JwksCache.from_url(client, "https://auth.fireline.test/.well-known/jwks.json")
        verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW)

        principal = await verifier.verify(key.mint())

    assert principal.org_id == UUID(ORG_ID)
    assert requested == ["https://auth.fireline.test/.well-known/jwks.json"]


async def test_jwks_http_error_is_reported_as_unavailable(key: SigningKey) -> None:
    def jwks_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks_endpoint)) as client:
        jwks = JwksCache.from_url(client, "https://auth.fireline.test/.well-known/jwks.json")
        verifier = TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, clock=lambda: NOW)

        with pytest.raises(KeySetUnavailable):
            await verifier.verify(key.mint())


async def test_refuses_token_living_longer_than_the_maximum(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    # What a leaked signing key would mint: a token valid for a year. 3600 s + 30 s leeway.
    assert await refused(verifier, key.mint(exp=int(NOW) + 365 * 86_400)) == (
        "token lifetime too long"
    )
    assert await refused(verifier, key.mint(exp=int(NOW) + 3631)) == "token lifetime too long"

    principal = await verifier.verify(key.mint(exp=int(NOW) + 3630))
    assert principal.expires_at == int(NOW) + 3630, "up to the maximum plus leeway is fine"


async def test_lifetime_is_measured_from_iat_not_from_now(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    # Backdating iat does not help a forger: the span exp - iat is what is bounded.
    token = key.mint(iat=int(NOW) - 3000, exp=int(NOW) + 1000)

    assert await refused(verifier, token) == "token lifetime too long"


@pytest.mark.parametrize(
    ("max_lifetime_s", "accepted"), [(None, True), (86_400, True), (60, False)]
)
async def test_maximum_lifetime_is_configurable(
    endpoint: FakeJwksEndpoint,
    clock: FakeClock,
    key: SigningKey,
    max_lifetime_s: int | None,
    accepted: bool,
) -> None:
    jwks = JwksCache(endpoint, min_refetch_interval_s=FLOOR_S, max_age_s=300, clock=clock)
    verifier = TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, max_lifetime_s=max_lifetime_s, clock=clock
    )
    token = key.mint(exp=int(NOW) + 7200)

    if accepted:
        assert (await verifier.verify(token)).expires_at == int(NOW) + 7200
    else:
        assert await refused(verifier, token) == "token lifetime too long"


def test_the_allow_list_setting_names_only_known_algorithms() -> None:
    settings = TokenSettings(token_algorithms_text=" RS256, ES256 ")
    assert settings.token_algorithms == {"RS256", "ES256"}
    assert TokenSettings().token_algorithms == ALL_ALGORITHMS
    for bad in ("", "RS256,HS256", "none"):
        with pytest.raises(ValidationError, match="choose among RS256, ES256, Ed25519, EdDSA"):
            TokenSettings(token_algorithms_text=bad)


USER_ID = "0b5e7c1a-8f9d-4e2b-a1c3-5d7f9b1e3a50"
SESSION_ID = "3c9a1f7e-2d4b-4a6c-8e0f-1b3d5f7a9c21"


async def test_a_persons_token_names_the_person_and_the_session(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    token = key.mint(sub=USER_ID, client_id="fireline-ui", sid=SESSION_ID)

    principal = await verifier.verify(token)

    assert principal.user_id == UUID(USER_ID)
    assert principal.session_id == UUID(SESSION_ID)
    assert principal.key_id == "fireline-ui"
    assert principal.has_scope("incidents:write")


async def test_a_machine_token_names_no_person(verifier: TokenVerifier, key: SigningKey) -> None:
    principal = await verifier.verify(key.mint())

    assert principal.user_id is None
    assert principal.session_id is None


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "not-a-uuid", "sid": SESSION_ID}, "invalid claim sub"),
        ({"sub": USER_ID, "sid": "not-a-uuid"}, "invalid claim sid"),
        ({"sub": USER_ID, "sid": ""}, "invalid claim sid"),
    ],
)
async def test_a_persons_token_needs_uuid_person_and_session(
    verifier: TokenVerifier, key: SigningKey, claims: dict[str, Any], reason: str
) -> None:
    token = key.mint(client_id="fireline-ui", sub=claims["sub"], sid=claims["sid"])

    assert await refused(verifier, token) == reason


async def test_only_the_canonical_spelling_of_a_token_verifies(
    verifier: TokenVerifier, key: SigningKey
) -> None:
    token = key.mint()
    assert (await verifier.verify(token)).key_id == "key_1"
    spellings = respellings(token)
    assert {"non-zero unused bits", "padding"} <= spellings.keys()
    for reason, spelled in spellings.items():
        assert await refused(verifier, spelled) == "malformed token", reason


@pytest.mark.parametrize(
    "text",
    ["QQ=", "QQ==", "QR", "Q+", "Q/", "Q", "QUJD\n", "QU JD", "QUJDé", "Q_-=="],
)
def test_base64url_decoding_refuses_every_non_canonical_spelling(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        jose.b64url_decode(text)


def test_base64url_decoding_reads_the_canonical_spelling() -> None:
    for data in (b"", b"A", b"AB", b"ABC", bytes(range(256))):
        assert jose.b64url_decode(b64url(data)) == data
