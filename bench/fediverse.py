"""The fediverse accounts' CPU per request: checking an inbox request's HTTP Signature and
signing a delivery, against the bare RSA operation each needs, measured in the same run.

    .venv/bin/python -m bench.fediverse [--seconds 3] [--write docs/benchmarks.md]

An inbox ``POST`` (a 3 kB activity, signed as Mastodon signs: rsa-sha256 over
``(request-target) host date digest``; 600 different ones in turn, so no cache holds them) costs
what the inbox asks of it (``signatures.key_id``, ``verify`` and ``replay_token``: parsing, the
date window, the body digest, the key, the RSA verification); the reference is the RSA-2048
verification alone of the same signing string, and bovine's own check of the same request
(``SignatureChecker``, key already in hand) is the other implementation beside it. A delivery
costs ``signatures.sign`` (the Date, the digest, the PEM key loaded, the RSA signature); its
reference is the RSA-2048 signature alone. The key fetch is left out: it is cached for an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bovine.crypto.signature_checker import SignatureChecker
from bovine.crypto.types import CryptographicIdentifier
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.common import code_version, command_line, cpu_model, publish
from services.feeds.activitypub import signatures

INBOX = "https://feeds.example.org/ap/feeds/mashhad/en/inbox"
KEY_ID = "https://social.example/users/alice#main-key"
REQUESTS = 600  # distinct signed requests, cycled


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``work``, run for about ``seconds``."""
    work()  # warm
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            work()
        done += 20
    return done / elapsed


def activity(n: int = 1) -> bytes:
    body = "<p>" + "The mayors of Mashhad and Kazan signed a cultural agreement. " * 45 + "</p>"
    return json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"https://social.example/users/alice/statuses/{n}/activity",
            "type": "Create",
            "actor": "https://social.example/users/alice",
            "object": {"type": "Note", "content": body},
        }
    ).encode()


def measure(seconds: float) -> dict[str, float]:
    private, public = signatures.generate_key()
    key = serialization.load_pem_private_key(private.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    body, now = activity(), datetime.now(UTC)
    headers = signatures.sign("POST", INBOX, body, key_id=KEY_ID, private_key_pem=private, now=now)
    # Every inbox request is another signature: more of them than any cache of ours holds.
    requests = itertools.cycle([signed(n, private, now) for n in range(REQUESTS)])
    text = f"(request-target): post /ap/feeds/mashhad/en/inbox\nhost: {headers['Host']}".encode()
    raw = key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    public_key = key.public_key()
    checker = SignatureChecker(key_retriever=_retriever(public))
    loop = asyncio.new_event_loop()

    def inbox_checks() -> None:  # what the inbox asks of each request
        request = next(requests)
        signatures.key_id(request)
        signatures.verify(request, public, now=now)
        signatures.replay_token(request)

    def bovine_verifies() -> None:
        request = next(requests)

        async def body_of() -> bytes:
            return request.body

        lowered = {k.lower(): v for k, v in request.headers.items()}
        owner = loop.run_until_complete(checker.validate_signature("post", INBOX, lowered, body_of))
        assert owner == "https://social.example/users/alice"

    try:
        return {
            "verify": rate(inbox_checks, seconds),
            "rsa_verify": rate(
                lambda: public_key.verify(raw, text, padding.PKCS1v15(), hashes.SHA256()), seconds
            ),
            "bovine_verify": rate(bovine_verifies, seconds),
            "sign": rate(
                lambda: signatures.sign(
                    "POST", INBOX, body, key_id=KEY_ID, private_key_pem=private, now=now
                ),
                seconds,
            ),
            "rsa_sign": rate(lambda: key.sign(text, padding.PKCS1v15(), hashes.SHA256()), seconds),
            "body_bytes": float(len(body)),
        }
    finally:
        loop.close()


def signed(n: int, private: str, now: datetime) -> signatures.SignedRequest:
    body = activity(n)
    headers = signatures.sign("POST", INBOX, body, key_id=KEY_ID, private_key_pem=private, now=now)
    return signatures.SignedRequest("POST", INBOX, headers, body)


def _retriever(public: str) -> Callable[[str], Awaitable[CryptographicIdentifier | None]]:
    identity: CryptographicIdentifier = CryptographicIdentifier.from_pem(
        public, "https://social.example/users/alice"
    )

    async def retrieve(key_id: str) -> CryptographicIdentifier | None:
        return identity

    return retrieve


def section(found: dict[str, float], command: str) -> str:
    when = datetime.now(UTC).date().isoformat()
    machine = f"{cpu_model()}, one core ({platform.machine()}), Python {platform.python_version()}"
    rows = [
        ("inbox: check a signed 3 kB POST", found["verify"], "RSA-2048 verify",
         found["rsa_verify"]),
        ("the same, bovine's SignatureChecker", found["bovine_verify"], "RSA-2048 verify",
         found["rsa_verify"]),
        ("delivery: sign a 3 kB POST", found["sign"], "RSA-2048 sign", found["rsa_sign"]),
    ]  # fmt: skip
    table = "\n".join(
        f"| {what} | {ours:,.0f}/s | {ref_name}: {ref:,.0f}/s | {ours / ref:.2f} |"
        for what, ours, ref_name, ref in rows
    )
    return (
        "## Fediverse: signatures per second\n\n"
        f"Command: `{command}`  \nMachine: {machine}; {when}; {code_version()}.\n\n"
        "| work | ours | reference, same run | ours / reference |\n|---|---|---|---|\n"
        f"{table}\n\n"
        "What it means: one core checks about "
        f"{found['verify']:,.0f} inbox requests a second (the key's fetch, cached for an hour, "
        "aside) and signs about "
        f"{found['sign']:,.0f} deliveries a second: an article's `Create` to 1,000 follower "
        f"servers costs about {1000 / found['sign']:.2f} s of one core in signatures.\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fediverse", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--write", type=Path, help="update this benchmarks page")
    parser.add_argument("--from-make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    found = measure(args.seconds)
    publish(section(found, command_line("fediverse", args.from_make)), "fediverse", args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
