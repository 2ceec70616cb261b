"""HTTP Signatures for the ActivityPub inboxes, cross-checked against code we do not own: bovine
(signs and verifies draft-cavage, verifies a subset of RFC 9421), the http-message-signatures
library's RFC 9421 signer, and draft-cavage-http-signatures-12's own Appendix C test values."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import http_sf
import pytest
from bovine.clients.signed_http import legacy_digest_method, legacy_digest_method_uppercase
from bovine.clients.signed_http_methods import signed_get, signed_post
from bovine.crypto.digest import validate_digest
from bovine.crypto.helper import content_digest_sha256_rfc_9530
from bovine.crypto.signature import RFC9421Signature
from bovine.crypto.signature_checker import SignatureChecker
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.feeds.activitypub.signatures import (
    SignatureError,
    SignedRequest,
    generate_key,
    key_id,
    public_key_of,
    replay_token,
    sign,
    verify,
)

INBOX = "https://feeds.example/ap/feeds/mashhad/en/inbox"
KEY_ID = "https://social.example/users/alice#main-key"
OWNER = "https://social.example/users/alice"
BODY = b'{"type": "Follow", "actor": "https://social.example/users/alice"}'
NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return generate_key()


@pytest.fixture(scope="module")
def other_rsa_keys() -> tuple[str, str]:
    return generate_key()


@pytest.fixture(scope="module")
def ed_keys() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private, public_key_of(private)


def _post(headers: dict[str, str], body: bytes = BODY, url: str = INBOX) -> SignedRequest:
    return SignedRequest(method="POST", url=url, headers=headers, body=body)


def _signed_post(private: str, now: datetime = NOW, body: bytes = BODY) -> SignedRequest:
    added = sign("POST", INBOX, body, key_id=KEY_ID, private_key_pem=private, now=now)
    return _post({**added, "Content-Type": "application/activity+json"}, body)


def _refusal(request: SignedRequest, public: str, now: datetime = NOW) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(request, public, now=now)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def _cavage(
    private: str, covered: list[str], values: dict[str, str], algorithm: str | None = "rsa-sha256"
) -> str:
    """A draft-cavage Signature header over `covered`, for requests `sign` would never make."""
    key = serialization.load_pem_private_key(private.encode(), password=None)
    text = "\n".join(f"{name}: {values[name]}" for name in covered).encode()
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        raw = key.sign(text)
    algo = f'algorithm="{algorithm}",' if algorithm else ""
    return (
        f'keyId="{KEY_ID}",{algo}headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(raw).decode()}"'
    )


# --------------------------------------------------------------- our signatures, bovine verifies


def _bovine_checker(public: str) -> SignatureChecker:
    async def key_retriever(requested: str) -> CryptographicIdentifier | None:
        return CryptographicIdentifier.from_pem(public, OWNER) if requested == KEY_ID else None

    return SignatureChecker(key_retriever)


async def _bovine_verifies(
    public: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> str | None:
    async def read_body() -> bytes:
        return body

    lowered = {name.lower(): value for name, value in headers.items()}
    checker = _bovine_checker(public)
    return await checker.validate_signature(method, url, lowered, read_body)


async def test_our_signed_post_is_accepted_by_bovine(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    now = datetime.now(UTC)  # bovine checks the Date header against the real clock
    request = _signed_post(private, now)
    assert set(request.headers) == {"Host", "Date", "Digest", "Signature", "Content-Type"}
    assert 'headers="(request-target) host date digest"' in request.headers["Signature"]
    assert await _bovine_verifies(public, "POST", INBOX, dict(request.headers), BODY) == OWNER
    verify(request, public, now=now)
    # bovine is not a rubber stamp: it refuses the same headers over another body.
    assert await _bovine_verifies(public, "POST", INBOX, dict(request.headers), b"{}") is None


async def test_our_signed_get_is_accepted_by_bovine(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    now = datetime.now(UTC)
    url = "https://social.example/users/alice/outbox"
    added = sign("GET", url, None, key_id=KEY_ID, private_key_pem=private, now=now)
    assert "Digest" not in added
    assert 'headers="(request-target) host date"' in added["Signature"]
    assert await _bovine_verifies(public, "GET", url, added, b"") == OWNER
    verify(SignedRequest("GET", url, added, b""), public, now=now)
    assert await _bovine_verifies(public, "GET", url + "x", added, b"") is None


def test_sign_formats_date_and_host_like_mastodon(rsa_keys: tuple[str, str]) -> None:
    added = sign(
        "POST", "https://feeds.example:8443/inbox", b"", key_id=KEY_ID,
        private_key_pem=rsa_keys[0], now=datetime(2014, 1, 5, 21, 31, 40, 999, tzinfo=UTC),
    )  # fmt: skip
    assert added["Date"] == "Sun, 05 Jan 2014 21:31:40 GMT"
    assert added["Host"] == "feeds.example:8443"
    assert added["Digest"] == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


# --------------------------------------------------------------- bovine signs, we verify


@dataclass
class _CapturingSession:
    """Stands in for aiohttp.ClientSession: bovine signs, we keep what it would have sent."""

    sent: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def post(self, url: str, data: str, headers: dict[str, str]) -> None:
        self.sent.append(("POST", url, headers, data.encode()))

    async def get(self, url: str, headers: dict[str, str], allow_redirects: bool) -> None:
        self.sent.append(("GET", url, headers, b""))


@pytest.mark.parametrize(
    "digest_method",
    [legacy_digest_method, legacy_digest_method_uppercase, content_digest_sha256_rfc_9530],
    ids=["digest-lowercase", "digest-uppercase", "content-digest"],
)
async def test_bovine_signed_post_is_accepted(
    rsa_keys: tuple[str, str], digest_method: Any
) -> None:
    private, public = rsa_keys
    session = _CapturingSession()
    secret = CryptographicSecret.from_pem(KEY_ID, private)
    body = BODY.decode()
    await signed_post(session, secret, INBOX, body, digest_method=digest_method)  # type: ignore[arg-type]
    method, url, headers, sent = session.sent[0]
    request = SignedRequest(method, url, headers, sent)
    now = datetime.now(UTC)
    verify(request, public, now=now)
    assert key_id(request) == KEY_ID
    assert "body digest does not match" in _refusal(
        SignedRequest(method, url, headers, sent + b" "), public, now
    )


async def test_bovine_signed_get_is_accepted(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    session = _CapturingSession()
    url = (
        "https://feeds.example/ap/feeds/mashhad/en?page=2"  # with a query: (request-target) has it
    )
    await signed_get(session, CryptographicSecret.from_pem(KEY_ID, private), url)  # type: ignore[arg-type]
    method, sent_url, headers, _ = session.sent[0]
    verify(SignedRequest(method, sent_url, headers, b""), public, now=datetime.now(UTC))
    # bovine signed the query too: the same signature on another page is refused.
    other = SignedRequest(method, sent_url.replace("page=2", "page=3"), headers, b"")
    assert "does not verify" in _refusal(other, public, datetime.now(UTC))


# --------------------------------------------------------------- RFC 9421, the library signs


@dataclass
class _Message:
    method: str
    url: str
    headers: dict[str, str]


def _rfc9421(
    private: str,
    algorithm: Any,
    *,
    created: datetime = NOW,
    expires: datetime | None = None,
    components: tuple[str, ...] = ("@method", "@authority", "@path"),
    body: bytes = BODY,
    url: str = INBOX,
) -> SignedRequest:
    key = serialization.load_pem_private_key(private.encode(), password=None)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key}),  # type: ignore[dict-item]
    )
    message = _Message("POST", url, {"Host": "feeds.example", "Content-Type": "application/json"})
    signer.sign(
        message, key_id=KEY_ID, created=created, expires=expires, label="sig1",
        covered_component_ids=components, body=body,
    )  # fmt: skip
    return SignedRequest("POST", url, message.headers, body)


def _bovine_rfc9421_verifies(
    public: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> str | None:
    """bovine's own RFC 9421 signature base and verification, and its own digest check.

    bovine 0.5.19's `SignatureChecker` cannot read Signature-Input with the http_sf 1.5 the venv
    has (`http_sf.parse_dictionary` now takes a parser state), so the headers are parsed here
    and everything after the parsing is bovine's.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if not validate_digest(lowered, body):
        return None
    inputs: Any = http_sf.parse(lowered["signature-input"].encode(), tltype="dictionary")
    signatures: Any = http_sf.parse(lowered["signature"].encode(), tltype="dictionary")
    (label, (members, params)), *_ = inputs.items()
    parsed = RFC9421Signature(
        fields=[member for member, _ in members],
        signature=signatures[label][0],
        signature_params=lowered["signature-input"].split("=", 1)[1],
        params=params,
    )
    checker = _bovine_checker(public)
    base = checker.build_rfc9421_http_signature(parsed, method, url, lowered)  # type: ignore[no-untyped-call]
    identity = CryptographicIdentifier.from_pem(public, OWNER)
    result: str | None = base.verify_with_identity_quoted(identity, parsed.signature)
    return result


@pytest.mark.parametrize("keys", ["rsa", "ed25519"])
async def test_rfc9421_signed_by_the_library_is_accepted(
    keys: str, rsa_keys: tuple[str, str], ed_keys: tuple[str, str]
) -> None:
    private, public = rsa_keys if keys == "rsa" else ed_keys
    algorithm = algorithms.RSA_V1_5_SHA256 if keys == "rsa" else algorithms.ED25519
    now = datetime.now(UTC)
    request = _rfc9421(private, algorithm, created=now)
    assert request.headers["Content-Digest"].startswith("sha-256=:")
    assert '"content-digest"' in request.headers["Signature-Input"]
    verify(request, public, now=now)
    assert key_id(request) == KEY_ID
    # bovine builds RFC 9421 signature bases too (@method, @path, @authority, fields): it agrees.
    assert _bovine_rfc9421_verifies(public, "POST", INBOX, dict(request.headers), BODY) == OWNER
    tampered = _post(dict(request.headers), BODY + b" ")
    assert _refusal(tampered, public, now) == "body digest does not match"
    assert (
        _bovine_rfc9421_verifies(public, "POST", INBOX, dict(request.headers), BODY + b" ") is None
    )
    moved = INBOX.replace("mashhad", "tehran")
    assert _bovine_rfc9421_verifies(public, "POST", moved, dict(request.headers), BODY) is None


def test_rfc9421_target_uri_and_pss_are_accepted(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    url = INBOX + "?lang=en"
    request = _rfc9421(
        private, algorithms.RSA_PSS_SHA512, components=("@method", "@target-uri"), url=url
    )
    verify(request, public, now=NOW + timedelta(minutes=4))
    moved = SignedRequest("POST", INBOX + "?lang=fa", request.headers, BODY)
    assert _refusal(moved, public).startswith(f"signature does not verify with the key of {KEY_ID}")


def test_rfc9421_alg_may_be_left_out(ed_keys: tuple[str, str]) -> None:
    private, public = ed_keys
    key = serialization.load_pem_private_key(private.encode(), password=None)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key}),  # type: ignore[dict-item]
    )
    message = _Message("POST", INBOX, {})
    signer.sign(message, key_id=KEY_ID, created=NOW, include_alg=False, body=BODY)
    assert "alg=" not in message.headers["Signature-Input"]
    verify(SignedRequest("POST", INBOX, message.headers, BODY), public, now=NOW)


# --------------------------------------------------------------- draft-cavage-12, Appendix C

# The "Test" key pair and request of draft-cavage-http-signatures-12 Appendix C (the same in
# drafts 09 to 12), as quoted in ryanwinchester/http_sign test/fixtures/test_data.ex.
SPEC_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----"""
SPEC_PRIVATE = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----"""
SPEC_URL = "https://example.com/foo?param=value&pet=dog"
SPEC_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
SPEC_BODY = b'{"hello": "world"}'
SPEC_HEADERS = {
    "Host": "example.com",
    "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
SPEC_BASIC = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8V"
    "fEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)
SPEC_ALL_HEADERS = (
    "vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUH"
    "Fv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="
)


def test_spec_all_headers_test_verifies() -> None:
    signature = (
        'keyId="Test",algorithm="rsa-sha256",'
        'headers="(request-target) host date content-type digest content-length",'
        f'signature="{SPEC_ALL_HEADERS}"'
    )
    request = _post({**SPEC_HEADERS, "Signature": signature}, SPEC_BODY, SPEC_URL)
    verify(request, SPEC_PUBLIC, now=SPEC_NOW)
    # Some servers publish PKCS#1 "RSA PUBLIC KEY": the same key reads the same.
    pkcs1 = (
        serialization.load_pem_public_key(SPEC_PUBLIC.encode())
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    verify(request, pkcs1, now=SPEC_NOW)
    lying = _post(
        {**SPEC_HEADERS, "Content-Length": "19", "Signature": signature}, SPEC_BODY, SPEC_URL
    )
    assert (
        _refusal(lying, SPEC_PUBLIC, SPEC_NOW) == "signature does not verify with the key of Test"
    )


def test_spec_basic_test_in_authorization() -> None:
    authorization = (
        'Signature keyId="Test",algorithm="rsa-sha256",'
        f'headers="(request-target) host date", signature="{SPEC_BASIC}"'
    )
    request = _post({**SPEC_HEADERS, "Authorization": authorization}, SPEC_BODY, SPEC_URL)
    assert key_id(request) == "Test"
    # The Basic Test leaves the body's digest unsigned: with a body, that is not enough for us.
    assert "not covered by the signature" in _refusal(request, SPEC_PUBLIC, SPEC_NOW)
    # Without the body, its signing string is the spec's, and the signature verifies.
    bodyless = {k: v for k, v in SPEC_HEADERS.items() if k != "Digest"}
    verify(
        _post({**bodyless, "Authorization": authorization}, b"", SPEC_URL),
        SPEC_PUBLIC,
        now=SPEC_NOW,
    )


def test_our_sign_reproduces_the_spec_basic_signature() -> None:
    """PKCS#1 v1.5 is deterministic: same key, same signing string, the spec's very bytes."""
    added = sign("POST", SPEC_URL, None, key_id="Test", private_key_pem=SPEC_PRIVATE, now=SPEC_NOW)
    assert added["Signature"] == (
        'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
        f'signature="{SPEC_BASIC}"'
    )


# --------------------------------------------------------------- refusals


def test_unsigned(rsa_keys: tuple[str, str]) -> None:
    request = _post({"Host": "feeds.example", "Date": "Mon, 07 Dec 2026 12:00:00 GMT"})
    assert _refusal(request, rsa_keys[1]) == "unsigned: no Signature header"
    for probe in (key_id, replay_token):
        with pytest.raises(SignatureError, match="unsigned: no Signature header"):
            probe(request)


def test_tampered_body(rsa_keys: tuple[str, str]) -> None:
    request = _signed_post(rsa_keys[0])
    verify(request, rsa_keys[1], now=NOW)
    tampered = _post(dict(request.headers), BODY.replace(b"Follow", b"Delete"))
    assert _refusal(tampered, rsa_keys[1]) == "body digest does not match"


def test_digest_not_covered(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    unsigned_body = sign("POST", INBOX, None, key_id=KEY_ID, private_key_pem=private, now=NOW)
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    reason = _refusal(_post({**unsigned_body, "Digest": digest}), public)
    assert reason == "the body digest (Digest header) is not covered by the signature"
    no_digest = _refusal(_post(unsigned_body), public)
    assert no_digest == "the request has a body but no Digest or Content-Digest header"


def test_date_ten_minutes_old(rsa_keys: tuple[str, str]) -> None:
    request = _signed_post(rsa_keys[0], NOW - timedelta(minutes=10))
    reason = _refusal(request, rsa_keys[1])
    assert reason.startswith("date outside the accepted window: the Date header says")
    assert "0:10:00 behind our clock" in reason
    verify(request, rsa_keys[1], now=NOW, window=timedelta(minutes=11))


def test_date_in_the_future(rsa_keys: tuple[str, str]) -> None:
    request = _signed_post(rsa_keys[0], NOW + timedelta(minutes=6))
    reason = _refusal(request, rsa_keys[1])
    assert reason.startswith("date outside the accepted window")
    assert "ahead of our clock" in reason
    verify(request, rsa_keys[1], now=NOW + timedelta(minutes=1))


def test_wrong_key(rsa_keys: tuple[str, str], other_rsa_keys: tuple[str, str]) -> None:
    request = _signed_post(rsa_keys[0])
    reason = _refusal(request, other_rsa_keys[1])
    assert reason == f"signature does not verify with the key of {KEY_ID}"


def test_missing_request_target(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    added = sign("POST", INBOX, BODY, key_id=KEY_ID, private_key_pem=private, now=NOW)
    values = {"host": added["Host"], "date": added["Date"], "digest": added["Digest"]}
    headers = {**added, "Signature": _cavage(private, ["host", "date", "digest"], values)}
    reason = _refusal(_post(headers), public)
    assert reason.startswith('the signature does not cover "(request-target)"')


def test_hs2019_dated_by_created_instead_of_date(rsa_keys: tuple[str, str]) -> None:
    """Some hs2019 senders sign ``(created)`` in place of the Date header: accepted, and its
    time is held to the same window."""
    private, public = rsa_keys
    added = sign("POST", INBOX, BODY, key_id=KEY_ID, private_key_pem=private, now=NOW)
    covered = ["(request-target)", "host", "(created)", "digest"]

    def signed(created: datetime) -> SignedRequest:
        values = {
            "(request-target)": "post /ap/feeds/mashhad/en/inbox",
            "host": added["Host"],
            "(created)": str(int(created.timestamp())),
            "digest": added["Digest"],
        }
        header = _cavage(private, covered, values, algorithm="hs2019")
        header += f",created={values['(created)']}"
        return _post({"Host": added["Host"], "Digest": added["Digest"], "Signature": header})

    verify(signed(NOW - timedelta(minutes=1)), public, now=NOW)
    reason = _refusal(signed(NOW - timedelta(minutes=10)), public)
    assert reason.startswith("date outside the accepted window: the created parameter says")


def test_rfc9421_created_too_old(rsa_keys: tuple[str, str]) -> None:
    request = _rfc9421(rsa_keys[0], algorithms.RSA_V1_5_SHA256, created=NOW - timedelta(hours=1))
    reason = _refusal(request, rsa_keys[1])
    assert reason.startswith("date outside the accepted window: the created says 2026-12-07 11:00")


def test_rfc9421_expired_and_uncovered(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    expired = _rfc9421(private, algorithms.RSA_V1_5_SHA256, expires=NOW - timedelta(seconds=1))
    assert _refusal(expired, public) == "signature expired at 2026-12-07 11:59:59 UTC"
    no_method = _rfc9421(private, algorithms.RSA_V1_5_SHA256, components=("@authority", "@path"))
    assert _refusal(no_method, public) == 'the signature does not cover "@method"'
    no_target = _rfc9421(private, algorithms.RSA_V1_5_SHA256, components=("@method", "@path"))
    assert "neither" in _refusal(no_target, public)


def test_algorithm_and_key_kinds(rsa_keys: tuple[str, str], ed_keys: tuple[str, str]) -> None:
    added = sign("POST", INBOX, BODY, key_id=KEY_ID, private_key_pem=rsa_keys[0], now=NOW)
    covered = ["(request-target)", "host", "date", "digest"]
    values = {
        "(request-target)": "post /ap/feeds/mashhad/en/inbox", "host": added["Host"],
        "date": added["Date"], "digest": added["Digest"],
    }  # fmt: skip
    for algorithm in ("hs2019", None):  # hs2019 and no algorithm: the key decides
        for private, public in (rsa_keys, ed_keys):
            headers = {**added, "Signature": _cavage(private, covered, values, algorithm)}
            verify(_post(headers), public, now=NOW)
    ed_as_rsa = {**added, "Signature": _cavage(ed_keys[0], covered, values, "rsa-sha256")}
    assert "is not RSA" in _refusal(_post(ed_as_rsa), ed_keys[1])
    hmac_sig = {**added, "Signature": _cavage(rsa_keys[0], covered, values, "hmac-sha256")}
    assert "unsupported signature algorithm 'hmac-sha256'" in _refusal(_post(hmac_sig), rsa_keys[1])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Signature": "garbage"}, "malformed Signature header"),
        ({"Signature": 'keyId="k",headers="date",signature="not base64!"'}, "not base64"),
        ({"Signature": 'algorithm="rsa-sha256",signature="AAAA"'}, "no keyId"),
        ({"Signature-Input": "sig1=(", "Signature": "sig1=:AAAA:"}, "malformed Signature-Input"),
        ({"Signature-Input": 'sig1=("@method");created=1', "Signature": "sig1=:AAAA:"}, "no keyid"),
        ({"Signature-Input": 'sig1=("@method");keyid="k"', "Signature": "sig2=:AAAA:"}, "no label"),
        ({"Signature-Input": 'sig1=("@method");keyid="k"'}, "unsigned: a Signature-Input"),
        ({"Authorization": "Bearer abc"}, "unsigned: no Signature header"),
    ],
)
def test_malformed_headers(
    headers: dict[str, str], expected: str, rsa_keys: tuple[str, str]
) -> None:
    assert expected in _refusal(_post(headers), rsa_keys[1])
    with pytest.raises(SignatureError, match=expected):
        key_id(_post(headers))


def test_malformed_date_and_key(rsa_keys: tuple[str, str]) -> None:
    request = _signed_post(rsa_keys[0])
    headers = {**request.headers, "Date": "2026-12-07T12:00:00Z"}
    assert "is not an HTTP date (IMF-fixdate)" in _refusal(_post(headers), rsa_keys[1])
    reason = _refusal(request, "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----")
    assert reason == f"the key of {KEY_ID} is not a PEM public key we can read"


def test_key_id_and_replay_token(rsa_keys: tuple[str, str], ed_keys: tuple[str, str]) -> None:
    first = _signed_post(rsa_keys[0])
    again = _post({name.lower(): value for name, value in first.headers.items()})
    later = _signed_post(rsa_keys[0], NOW + timedelta(seconds=1))
    assert key_id(again) == KEY_ID
    assert replay_token(first) == replay_token(again) != replay_token(later)
    rfc = _rfc9421(ed_keys[0], algorithms.ED25519)
    assert key_id(rfc) == KEY_ID
    assert len(replay_token(rfc)) == 64 and replay_token(rfc) != replay_token(first)


def test_generated_keys_round_trip(rsa_keys: tuple[str, str]) -> None:
    private, public = rsa_keys
    assert private.startswith("-----BEGIN PRIVATE KEY-----")
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    assert public_key_of(private) == public
    key = serialization.load_pem_public_key(public.encode())
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


# --------------------------------------------------------------- fuzz: nothing but SignatureError

_NAMES = st.sampled_from(
    ["Signature", "Signature-Input", "Authorization", "Date", "Host", "Digest", "Content-Digest"]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    headers=st.dictionaries(_NAMES, st.text(max_size=80), max_size=5), body=st.binary(max_size=8)
)
def test_any_headers_give_only_signature_errors(
    rsa_keys: tuple[str, str], headers: dict[str, str], body: bytes
) -> None:
    _only_signature_errors(_post(headers, body), rsa_keys[1])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["cavage", "rfc9421"]),
    name=st.sampled_from(["Signature", "Signature-Input", "Date", "Digest", "Content-Digest"]),
    value=st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                'sig1=("@method" "@path" "@authority");created=99999999999999;keyid="k"',
                'sig1=("@method" "@target-uri");created=?1;keyid="k";alg="ed25519"',
                'sig1=("@method" "@target-uri");created=1;expires=-99999999999999;keyid="k"',
                'keyId="k",headers="(request-target) host date (expires)",expires="x",'
                'signature="AAAA"',
                "sha-256=:AAAA:, sha-512=?1",
                "SHA-256=%%%",
            ]
        ),
    ),
    url=st.sampled_from([INBOX, "https://[bad/inbox", "feeds.example/in box?q=é"]),
)
def test_damaged_signed_requests_give_only_signature_errors(
    rsa_keys: tuple[str, str], ed_keys: tuple[str, str], which: str, name: str, value: str, url: str
) -> None:
    good = (
        _signed_post(rsa_keys[0]) if which == "cavage" else _rfc9421(ed_keys[0], algorithms.ED25519)
    )
    damaged = _post({**good.headers, name: value}, url=url)
    _only_signature_errors(damaged, rsa_keys[1] if which == "cavage" else ed_keys[1])


def _only_signature_errors(request: SignedRequest, public: str) -> None:
    for probe in (key_id, replay_token):
        try:
            probe(request)
        except SignatureError:
            pass  # refusing is fine; anything else escaping is the bug
    try:
        verify(request, public, now=NOW)
    except SignatureError as refused:
        assert refused.reason
