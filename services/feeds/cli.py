"""Feeds maintenance: ``python -m services.feeds.cli backfill``.

Appends every stored entry to each feed that carries it but lacks its current version, oldest
first, then renders those feeds. Use it after adding a network or partner to the registry (its
feeds then include what was published before), or on data from before feed logs existed. Safe
to run at any time and more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.feeds.publishing import FeedRef, Feeds
from services.feeds.settings import FeedsSettings
from services.feeds.store import FeedStore
from shared.registry import Registry
from shared.storage import connect


async def backfill(settings: FeedsSettings) -> int:
    client = connect(settings.infra, "feeds-cli")
    try:
        db = client[settings.infra.mongodb_database]
        store = FeedStore(db, settings.entries_per_feed)
        feeds = Feeds(store, Registry(db), settings.public_url)
        entries = await store.all_entries()  # in publication order
        changed: set[FeedRef] = set()
        for entry in entries:
            changed |= await feeds.backfill(entry)
        for feed in sorted(changed, key=lambda f: f.id):
            await feeds.refresh(feed)
        print(f"feeds: {len(entries)} entries checked, {len(changed)} feeds backfilled")
        return 0
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.feeds.cli", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("backfill", help="append stored entries missing from their feeds")
    parser.parse_args(argv)
    return asyncio.run(backfill(FeedsSettings()))


if __name__ == "__main__":
    sys.exit(main())
