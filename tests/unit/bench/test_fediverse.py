"""The fediverse benchmark measures what it says: our check and bovine's accept the same signed
request (each asserts it), and the page section reports every rate with its reference."""

from __future__ import annotations

from bench import fediverse


def test_a_short_run_measures_every_rate_and_writes_its_section() -> None:
    found = fediverse.measure(0.05)
    assert all(found[k] > 0 for k in ("verify", "rsa_verify", "bovine_verify", "sign", "rsa_sign"))
    text = fediverse.section(found, "make bench-fediverse")
    assert text.startswith("## Fediverse: signatures per second")
    assert "Command: `make bench-fediverse`" in text and text.count("| RSA-2048") == 3
