"""The registry's command line: load the YAML file, issue and revoke editors' keys and partners'
feed tokens, print every feed URL.

    python -m tools.registry load deploy/local/registry.yaml
    python -m tools.registry keys create|list|revoke ...
    python -m tools.registry partner-token create|rotate|revoke|list ...
    python -m tools.registry urls --feeds http://127.0.0.1:8080 --tokens STATE/keys

It works on the database the services read (``MONGODB_URI``); they see a change within
``Registry.ttl`` seconds (:mod:`shared.registry`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from shared.contracts import utcnow
from shared.registry import (
    ALL_SCOPES,
    DEFAULT_GRACE,
    Partner,
    Registry,
    create_editor_key,
    create_partner_token,
    editor_keys,
    partner_tokens,
    read_registry,
    revoke_editor_keys,
    revoke_partner_token,
    rotate_partner_tokens,
    save,
)
from shared.settings import InfraSettings
from shared.storage import Database, connect

#: One command's work on the database.
Work = Callable[[Database], Awaitable[None]]


async def _with_db(work: Work) -> None:
    infra = InfraSettings()
    client = connect(infra, "registry-cli")
    try:
        await work(client[infra.mongodb_database])
    finally:
        await client.close()


async def _load(db: Database, path: Path) -> None:
    pubs, nets, partners = read_registry(path)
    await save(db, pubs, nets, partners)
    print(
        f"registry: {len(pubs)} publishers, {len(nets)} networks, {len(partners)} partners "
        f"from {path}"
    )


async def _urls(db: Database, feeds: str, tokens: Path | None = None) -> None:
    registry = Registry(db)
    base = feeds.rstrip("/")
    print("\nFeeds (Atom; swap .atom for .rss or .json):")
    for pub in await registry.publishers():
        langs = dict.fromkeys([pub.language, *await registry.target_languages(pub.id)])
        for lang in langs:
            print(f"  {base}/feeds/{pub.id}/{lang}.atom")
    for net in await registry.networks():
        for lang in net.languages:
            print(f"  {base}/networks/{net.id}/{lang}.atom")
    for partner in await registry.partners():
        token = tokens / f"partner-{partner.id}.token" if tokens else None
        query = f"?token=$(cat {token})" if token and token.exists() else " (needs its token)"
        for lang in partner.languages:
            print(f"  {base}/partners/{partner.id}/{lang}.atom{query}")
    print(f"Directory: {base}/feeds  OPML: {base}/feeds.opml  WebSub hub: {base}/websub")


async def _key_create(db: Database, args: argparse.Namespace) -> None:
    if args.out and args.out.exists():
        existing = await Registry(db).editor_key(args.out.read_text().strip())
        if existing and existing.publisher == args.publisher:
            print(f"keys: {args.out} already holds live key {existing.id} for {args.publisher}")
            return
    if await Registry(db).publisher(args.publisher) is None:
        raise ValueError(f"unknown publisher {args.publisher!r}: load the registry first")
    scopes = [s.strip() for s in args.scopes.split(",")] if args.scopes else None
    token, key = await create_editor_key(db, args.publisher, args.name, scopes)
    if args.out:
        _write_secret(args.out, token)
        print(
            f"keys: created {key.id} for {args.publisher} ({', '.join(key.scopes)}) in {args.out}"
        )
    else:
        print(
            f"keys: created {key.id} for {args.publisher} ({', '.join(key.scopes)}); "
            "the key, shown once:",
            file=sys.stderr,
        )
        print(token)


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")


async def _key_list(db: Database, args: argparse.Namespace) -> None:
    for key in await editor_keys(db, args.publisher):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
        print(f"{key.id}  {key.publisher:12} {key.name:20} {','.join(key.scopes):32} {state}")


async def _key_revoke(db: Database, args: argparse.Namespace) -> None:
    if not await revoke_editor_keys(db, key_id=args.key_id):
        raise ValueError(f"no live key {args.key_id!r}")
    print(f"keys: revoked {args.key_id}; services stop accepting it within seconds")


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "-"


async def _known_partner(db: Database, partner_id: str) -> Partner:
    partner = await Registry(db).partner(partner_id)
    if partner is None:
        known = ", ".join(p.id for p in await Registry(db).partners()) or "none"
        raise ValueError(f"unknown partner {partner_id!r}; registered partners: {known}")
    return partner


def _show_token(token: str, out: Path | None, what: str) -> None:
    if out:
        _write_secret(out, token)
        print(f"partner-token: {what}; the token is in {out}")
    else:
        print(f"partner-token: {what}; the token, shown once:", file=sys.stderr)
        print(token)


async def _token_create(db: Database, args: argparse.Namespace) -> None:
    partner = await _known_partner(db, args.partner)
    if args.out and args.out.exists():  # make run, again: keep the partner's live token
        existing = await Registry(db).partner_for_token(args.out.read_text().strip())
        if existing and existing.id == partner.id:
            print(f"partner-token: {args.out} already holds a live token for {partner.id}")
            return
    token, record = await create_partner_token(db, partner.id)
    _show_token(token, args.out, f"created {record.id} for {partner.id}")


async def _token_rotate(db: Database, args: argparse.Namespace) -> None:
    if not 0 <= args.grace_days <= 365:
        raise ValueError(f"--grace-days must be between 0 and 365, not {args.grace_days:g}")
    partner = await _known_partner(db, args.partner)
    token, record, previous = await rotate_partner_tokens(
        db, partner.id, timedelta(days=args.grace_days)
    )
    _show_token(token, args.out, f"created {record.id} for {partner.id}")
    for old in previous:
        print(f"partner-token: {old.id} keeps working until {_when(old.expires_at)}")


async def _token_revoke(db: Database, args: argparse.Namespace) -> None:
    if not await revoke_partner_token(db, args.token_id):
        raise ValueError(f"no unrevoked partner token {args.token_id!r}")
    print(f"partner-token: revoked {args.token_id}; feeds stop accepting it within seconds")


async def _token_list(db: Database, args: argparse.Namespace) -> None:
    await _known_partner(db, args.partner)
    now = utcnow()
    records = await partner_tokens(db, args.partner)
    if not records:
        print(f"partner-token: {args.partner} has no tokens; 'partner-token create' issues one")
    for record in records:
        state = record.state(now)
        print(
            f"{record.id}  {state:8}  created {_when(record.created_at)}  "
            f"expires {_when(record.expires_at)}  revoked {_when(record.revoked_at)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.registry")
    sub = parser.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load", help="write publishers, networks and partners from a YAML file")
    load.add_argument("file", type=Path)
    urls = sub.add_parser("urls", help="print every feed URL")
    urls.add_argument("--feeds", default="http://127.0.0.1:8080", help="feeds service base URL")
    urls.add_argument(
        "--tokens",
        dest="token_dir",
        type=Path,
        help="folder of partner-{id}.token files, to show in the URLs",
    )
    keys = sub.add_parser("keys", help="editors' API keys").add_subparsers(
        dest="keys", required=True
    )
    create = keys.add_parser("create", help="issue a key for a publisher (printed once)")
    create.add_argument("publisher")
    create.add_argument("--name", default="editor", help="who or what holds the key")
    create.add_argument("--scopes", help=f"comma-separated, from {','.join(ALL_SCOPES)} (all)")
    create.add_argument("--out", type=Path, help="write the key to this file (kept if still live)")
    listing = keys.add_parser("list", help="list keys (ids, never the keys themselves)")
    listing.add_argument("--publisher")
    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    tokens = sub.add_parser("partner-token", help="partners' private feed tokens").add_subparsers(
        dest="tokens", required=True
    )
    t_create = tokens.add_parser("create", help="issue a token for a partner (printed once)")
    t_create.add_argument("partner")
    t_create.add_argument("--out", type=Path, help="write the token to this file instead")
    t_rotate = tokens.add_parser(
        "rotate", help="issue a new token; the partner's others keep working for a grace period"
    )
    t_rotate.add_argument("partner")
    t_rotate.add_argument(
        "--grace-days",
        type=float,
        default=DEFAULT_GRACE.days,
        help=f"days the older tokens keep working (default {DEFAULT_GRACE.days}; 0: none)",
    )
    t_rotate.add_argument("--out", type=Path, help="write the new token to this file instead")
    t_revoke = tokens.add_parser("revoke", help="end a token at once, by its id")
    t_revoke.add_argument("token_id")
    t_list = tokens.add_parser("list", help="a partner's tokens (ids and dates, never tokens)")
    t_list.add_argument("partner")
    args = parser.parse_args(argv)
    commands: dict[str, Work] = {
        "load": lambda db: _load(db, args.file),
        "urls": lambda db: _urls(db, args.feeds, args.token_dir),
        "keys create": lambda db: _key_create(db, args),
        "keys list": lambda db: _key_list(db, args),
        "keys revoke": lambda db: _key_revoke(db, args),
        "partner-token create": lambda db: _token_create(db, args),
        "partner-token rotate": lambda db: _token_rotate(db, args),
        "partner-token revoke": lambda db: _token_revoke(db, args),
        "partner-token list": lambda db: _token_list(db, args),
    }
    action = getattr(args, "keys", None) or getattr(args, "tokens", None)
    name = f"{args.cmd} {action}" if action else args.cmd
    try:
        asyncio.run(_with_db(commands[name]))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
