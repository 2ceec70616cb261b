"""HTTP Signatures on ActivityPub requests: draft-cavage (what Mastodon and most of the fediverse
send) and RFC 9421 (what newer servers send).

Pure: CPU crypto only. Fetching the signer's key (by `key_id`) and refusing a replayed
`replay_token` are the caller's jobs; this module says whether a request is the one the key's
owner signed, recently, with this body, and if not, why, in words a remote admin understands.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import http_sf
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    MappingKeyResolver,
    algorithms,
)

PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_HASHES: dict[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}
_RFC9421_ALGORITHMS: dict[str, type[HTTPSignatureAlgorithm]] = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "ed25519": algorithms.ED25519,
}
_HEADER_TITLES = {"digest": "Digest", "content-digest": "Content-Digest"}
# One `name=value` or `name="value"` of a draft-cavage Signature header, with its comma.
_CAVAGE_PARAM = re.compile(
    r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^",\s]*))\s*(?:,|$)'
)
_ESCAPED = re.compile(r"\\(.)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (" + "|".join(_MONTHS) + r") (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT"
)


@dataclass(frozen=True)
class SignedRequest:
    """An incoming request as the inbox received it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class SignatureError(Exception):
    """Why a request's signature is refused, in words a remote admin understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class _Cavage:
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    signature: bytes
    created: str | None
    expires: str | None


@dataclass(frozen=True)
class _Rfc9421:
    key_id: str
    covered: tuple[str, ...]  # component names, their parameters left out
    alg: str | None
    created: int | None
    expires: int | None
    signature: bytes
    # The chosen label's members alone, re-serialised, for the library's verifier.
    signature_input_header: str
    signature_header: str


@dataclass
class _Message:
    """The request as http-message-signatures reads it."""

    method: str
    url: str
    headers: dict[str, str]


class _Verifier(HTTPMessageVerifier):
    """The library's verifier on our clock: `verify` checks created and expires against `now`."""

    def validate_created_and_expires(
        self, sig_input: object, max_age: timedelta | None = None
    ) -> None:
        return None


# --- public API ---------------------------------------------------------------------------


def key_id(request: SignedRequest) -> str:
    """The keyId the signer names, so the caller can fetch that actor's public key."""
    with _malformed_is_refused():
        return _parse(_lowered(request.headers)).key_id


def replay_token(request: SignedRequest) -> str:
    """The same for every copy of this signed request and different for any other."""
    with _malformed_is_refused():
        return hashlib.sha256(_parse(_lowered(request.headers)).signature).hexdigest()


def verify(
    request: SignedRequest,
    public_key_pem: str,
    *,
    now: datetime,
    window: timedelta = timedelta(minutes=5),
) -> None:
    """Return only if the key's owner signed this request, with this body, within `window`."""
    with _malformed_is_refused():
        headers = _lowered(request.headers)
        parsed = _parse(headers)
        clock = _utc(now)
        if isinstance(parsed, _Cavage):
            _verify_cavage(request, headers, parsed, public_key_pem, clock, window)
        else:
            _verify_rfc9421(request, headers, parsed, public_key_pem, clock, window)


def sign(
    method: str,
    url: str,
    body: bytes | None,
    *,
    key_id: str,
    private_key_pem: str,
    now: datetime,
) -> dict[str, str]:
    """Headers to add to an outgoing request, signed the way Mastodon signs its deliveries."""
    key = _private_key(private_key_pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("sign() needs an RSA private key: the fediverse verifies rsa-sha256")
    added = {"Host": urlsplit(url).netloc, "Date": _http_date(_utc(now))}
    if body is not None:
        added["Digest"] = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    covered = ["(request-target)", *(name.lower() for name in added)]
    lines = [f"(request-target): {method.lower()} {_path_and_query(url)}"]
    lines += [f"{name.lower()}: {value}" for name, value in added.items()]
    signature = key.sign(_encoded("\n".join(lines)), padding.PKCS1v15(), hashes.SHA256())
    added["Signature"] = (
        f'keyId="{_quoted(key_id)}",algorithm="rsa-sha256",'
        f'headers="{" ".join(covered)}",signature="{base64.b64encode(signature).decode()}"'
    )
    return added


def generate_key() -> tuple[str, str]:
    """A new actor key pair: (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return private, public_key_of(private)


def public_key_of(private_key_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM an actor document publishes for this private key."""
    key = serialization.load_pem_private_key(private_key_pem.encode("utf-8"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


# --- parsing ------------------------------------------------------------------------------


@contextmanager
def _malformed_is_refused() -> Iterator[None]:
    """Whatever a remote sends, the caller sees a SignatureError, never a parser's crash."""
    try:
        yield
    except (ValueError, TypeError, LookupError, OverflowError) as exc:
        raise SignatureError(f"malformed signed request: {exc}") from exc


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key, value = name.lower(), value.strip(" \t")
        lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
    return lowered


def _parse(headers: dict[str, str]) -> _Cavage | _Rfc9421:
    if "signature-input" in headers and "signature" in headers:
        return _parse_rfc9421(headers["signature-input"], headers["signature"])
    if "signature-input" in headers:
        raise SignatureError("unsigned: a Signature-Input header but no Signature header")
    if "signature" in headers:
        return _parse_cavage(headers["signature"], "Signature")
    scheme, _, params = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "signature":
        return _parse_cavage(params, "Authorization")
    raise SignatureError("unsigned: no Signature header")


# The inbox asks a request for its key id, then verifies it, then for its replay token: the
# parsers are pure, so each header is parsed once (the last few hundred remembered).
@functools.lru_cache(maxsize=256)
def _parse_cavage(value: str, header: str) -> _Cavage:
    params: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _CAVAGE_PARAM.match(value, position)
        if match is None or match.end() == position:
            raise SignatureError(f"malformed {header} header: cannot read it at {position}")
        quoted, bare = match.group(2), match.group(3)
        if quoted is not None and "\\" in quoted:
            quoted = _ESCAPED.sub(r"\1", quoted)
        params[match.group(1)] = quoted if quoted is not None else bare or ""
        position = match.end()
    for required in ("keyId", "signature"):
        if not params.get(required):
            raise SignatureError(f"malformed {header} header: no {required}")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError as exc:
        raise SignatureError(f"malformed {header} header: the signature is not base64") from exc
    return _Cavage(
        key_id=params["keyId"],
        algorithm=params.get("algorithm"),
        # draft-cavage-12 2.1.6: no headers parameter means "(created)" alone.
        covered=tuple(params.get("headers", "(created)").lower().split()),
        signature=signature,
        created=params.get("created"),
        expires=params.get("expires"),
    )


def _sf_dictionary(value: str, header: str) -> dict[str, Any]:
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except ValueError as exc:
        raise SignatureError(f"malformed {header} header: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SignatureError(f"malformed {header} header: not a dictionary")
    return parsed


@functools.lru_cache(maxsize=256)
def _parse_rfc9421(signature_input: str, signature: str) -> _Rfc9421:
    inputs = _sf_dictionary(signature_input, "Signature-Input")
    signatures = _sf_dictionary(signature, "Signature")
    label = next((name for name in inputs if name in signatures), None)
    if label is None:
        raise SignatureError("malformed signature: no label in both Signature-Input and Signature")
    members, params = inputs[label]
    signed, _ = signatures[label]
    if not isinstance(members, list) or not all(isinstance(m[0], str) for m in members):
        raise SignatureError(f"malformed Signature-Input header: {label} is not a component list")
    if not isinstance(signed, bytes) or not signed:
        raise SignatureError(f"malformed Signature header: {label} is not a byte sequence")
    keyid, alg = params.get("keyid"), params.get("alg")
    if not isinstance(keyid, str) or not keyid:
        raise SignatureError("malformed Signature-Input header: no keyid")
    created, expires = params.get("created"), params.get("expires")
    if any(value is not None and type(value) is not int for value in (created, expires)):
        raise SignatureError("malformed Signature-Input header: created/expires not integers")
    return _Rfc9421(
        key_id=keyid,
        covered=tuple(member[0] for member in members),
        alg=alg if isinstance(alg, str) else None,
        created=created,
        expires=expires,
        signature=signed,
        signature_input_header=http_sf.ser({label: inputs[label]}),
        signature_header=http_sf.ser({label: signatures[label]}),
    )


# --- checks -------------------------------------------------------------------------------


def _verify_cavage(
    request: SignedRequest,
    headers: dict[str, str],
    parsed: _Cavage,
    public_key_pem: str,
    now: datetime,
    window: timedelta,
) -> None:
    dated = "date" in parsed.covered or "(created)" in parsed.covered  # hs2019 may use created
    for required in ("(request-target)", "host", "date"):
        if required not in parsed.covered and not (required == "date" and dated):
            raise SignatureError(
                f'the signature does not cover "{required}": it must cover '
                '"(request-target) host date" (and "digest" when there is a body)'
            )
    if "date" in parsed.covered:
        if "date" not in headers:
            raise SignatureError("the signature covers date, but the request has no Date header")
        _check_window("Date header", _parse_http_date(headers["date"]), now, window)
    if "(created)" in parsed.covered:
        if parsed.created is None or not parsed.created.isdigit():
            raise SignatureError("the signature covers (created) but has no created parameter")
        _check_window("created parameter", _from_unix(int(parsed.created)), now, window)
    if parsed.expires is not None and int(parsed.expires) < now.timestamp():
        raise SignatureError(f"signature expired at {_stamp(_from_unix(int(parsed.expires)))}")
    _check_digest(headers, request.body, set(parsed.covered))
    key = _load_public_key(public_key_pem, parsed.key_id)
    algorithm = (parsed.algorithm or "").lower()
    if algorithm not in ("", "rsa-sha256", "hs2019"):
        raise SignatureError(
            f"unsupported signature algorithm {parsed.algorithm!r}: we accept rsa-sha256 and hs2019"
        )
    if algorithm == "rsa-sha256" and not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError(f"algorithm rsa-sha256, but the key of {parsed.key_id} is not RSA")
    lines = [f"{name}: {_cavage_value(name, request, headers, parsed)}" for name in parsed.covered]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                parsed.signature, _encoded("\n".join(lines)), padding.PKCS1v15(), hashes.SHA256()
            )
        else:
            key.verify(parsed.signature, _encoded("\n".join(lines)))
    except InvalidSignature as exc:
        raise SignatureError(f"signature does not verify with the key of {parsed.key_id}") from exc


def _cavage_value(
    name: str, request: SignedRequest, headers: dict[str, str], parsed: _Cavage
) -> str:
    if name == "(request-target)":
        return f"{request.method.lower()} {_path_and_query(request.url)}"
    if name in ("(created)", "(expires)"):
        value = parsed.created if name == "(created)" else parsed.expires
        if value is None:
            raise SignatureError(f"the signature covers {name} but has no {name[1:-1]} parameter")
        return value
    if name == "host":
        return headers.get("host") or urlsplit(request.url).netloc
    if name not in headers:
        raise SignatureError(f'the signature covers "{name}", but the request has no such header')
    return headers[name]


def _verify_rfc9421(
    request: SignedRequest,
    headers: dict[str, str],
    parsed: _Rfc9421,
    public_key_pem: str,
    now: datetime,
    window: timedelta,
) -> None:
    covered = set(parsed.covered)
    if "@method" not in covered:
        raise SignatureError('the signature does not cover "@method"')
    if "@target-uri" not in covered and not {"@authority", "@path"} <= covered:
        raise SignatureError(
            'the signature covers neither "@target-uri" nor "@authority" and "@path"'
        )
    if parsed.created is None:
        raise SignatureError("the signature has no created parameter")
    _check_window("created", _from_unix(parsed.created), now, window)
    if parsed.expires is not None and parsed.expires < now.timestamp():
        raise SignatureError(f"signature expired at {_stamp(_from_unix(parsed.expires))}")
    _check_digest(headers, request.body, covered)
    key = _load_public_key(public_key_pem, parsed.key_id)
    alg = parsed.alg or (
        "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "rsa-v1_5-sha256"
    )
    if alg not in _RFC9421_ALGORITHMS:
        raise SignatureError(f"unsupported alg {alg!r}: we accept {', '.join(_RFC9421_ALGORITHMS)}")
    if (alg == "ed25519") != isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"alg {alg} does not match the kind of the key of {parsed.key_id}")
    message_headers = {
        k: v for k, v in headers.items() if k not in ("signature-input", "signature")
    }
    message_headers["signature-input"] = parsed.signature_input_header
    message_headers["signature"] = parsed.signature_header
    verifier = _Verifier(
        signature_algorithm=_RFC9421_ALGORITHMS[alg],
        key_resolver=MappingKeyResolver(public_keys={parsed.key_id: key}, private_keys={}),
    )
    try:
        verifier.verify(
            _Message(request.method.upper(), request.url, message_headers), max_age=None
        )
    except HTTPMessageSignaturesException as exc:
        detail = f" ({exc})" if str(exc) else ""
        raise SignatureError(
            f"signature does not verify with the key of {parsed.key_id}{detail}"
        ) from exc


def _check_digest(headers: dict[str, str], body: bytes, covered: set[str]) -> None:
    present = [name for name in ("digest", "content-digest") if name in headers]
    signed = [name for name in present if name in covered]
    if not signed:
        if not body:
            return  # nothing to protect; an unsigned digest of nothing proves nothing
        if present:
            raise SignatureError(
                f"the body digest ({_HEADER_TITLES[present[0]]} header) is not covered "
                "by the signature"
            )
        raise SignatureError("the request has a body but no Digest or Content-Digest header")
    for name in signed:
        digests = (
            _parse_digest(headers[name])
            if name == "digest"
            else _parse_content_digest(headers[name])
        )
        if not digests:
            raise SignatureError(
                f"the {_HEADER_TITLES[name]} header has no SHA-256 or SHA-512 value"
            )
        for algorithm, expected in digests.items():
            if not hmac.compare_digest(expected, _HASHES[algorithm](body).digest()):
                raise SignatureError("body digest does not match")


def _parse_digest(value: str) -> dict[str, bytes]:
    """RFC 3230 `Digest: SHA-256=<base64>`, several comma separated; unknown algorithms skipped."""
    digests: dict[str, bytes] = {}
    for item in value.split(","):
        algorithm, _, encoded = item.strip().partition("=")
        if algorithm.lower() in _HASHES:
            try:
                digests[algorithm.lower()] = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise SignatureError("malformed Digest header: the digest is not base64") from exc
    return digests


def _parse_content_digest(value: str) -> dict[str, bytes]:
    """RFC 9530 `Content-Digest: sha-256=:<base64>:`; unknown algorithms skipped."""
    members = _sf_dictionary(value, "Content-Digest")
    digests: dict[str, bytes] = {}
    for algorithm in _HASHES:
        if algorithm in members:
            digest, _ = members[algorithm]
            if not isinstance(digest, bytes):
                raise SignatureError(f"malformed Content-Digest header: {algorithm} is not bytes")
            digests[algorithm] = digest
    return digests


def _check_window(what: str, sent: datetime, now: datetime, window: timedelta) -> None:
    if abs(now - sent) > window:
        direction = "ahead of" if sent > now else "behind"
        raise SignatureError(
            f"date outside the accepted window: the {what} says {_stamp(sent)}, "
            f"{abs(now - sent)} {direction} our clock ({_stamp(now)}); we accept {window}"
        )


def _load_public_key(pem: str, kid: str) -> PublicKey:
    try:
        key = _public_key(pem.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"the key of {kid} is not a PEM public key we can read") from exc
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise SignatureError(f"the key of {kid} is neither RSA nor Ed25519; we verify only those")
    return key


# Parsed keys, by their PEM: loading a private RSA key checks it, which costs 60 times its
# signature (make bench-fediverse), and a server signs every delivery with one of a few keys.
@functools.lru_cache(maxsize=256)
def _private_key(pem: str) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(pem.encode("utf-8"), password=None)


@functools.lru_cache(maxsize=4096)
def _public_key(pem: str) -> PublicKeyTypes:
    return serialization.load_pem_public_key(pem.encode("utf-8"))


# --- small helpers ------------------------------------------------------------------------


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _parse_http_date(value: str) -> datetime:
    match = _IMF_FIXDATE.fullmatch(value)
    if match is None:
        raise SignatureError(f"the Date header {value!r} is not an HTTP date (IMF-fixdate)")
    day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise SignatureError(f"the Date header {value!r} is not a real date") from exc


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_unix(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SignatureError(f"malformed signature: {seconds} is not a usable timestamp") from exc


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _encoded(text: str) -> bytes:
    """Header values arrive as ASGI gives them, bytes read as Latin-1; give the bytes back."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
