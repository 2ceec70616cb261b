"""The glossaries' command line: load every publisher's terms from a YAML file (the format is in
:mod:`shared.glossary`), or print one current glossary.

    python -m tools.glossary load deploy/local/glossary.yaml
    python -m tools.glossary show mashhad en

The publishers must be registered first (``python -m tools.registry load``): a term's source
form is in its publisher's language.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import yaml

from shared.glossary import Glossary, GlossaryStore, read_file
from shared.registry import Registry
from shared.settings import InfraSettings
from shared.storage import Database, connect


async def load(db: Database, path: Path, by: str = "glossary file") -> list[Glossary]:
    sources = {p.id: p.language for p in await Registry(db).publishers()}
    store = GlossaryStore(db)
    saved = []
    for (publisher, language), terms in read_file(path, sources).items():
        saved.append(
            await store.put(publisher, language, terms, source_language=sources[publisher], by=by)
        )
    return saved


async def _main(args: argparse.Namespace) -> None:
    infra = InfraSettings()
    client = connect(infra, "glossary-cli")
    db: Database = client[infra.mongodb_database]
    try:
        if args.cmd == "load":
            for g in await load(db, args.file):
                print(f"glossary: {g.label} ({len(g.terms)} terms)")
        else:
            found = await GlossaryStore(db).get(args.publisher, args.language)
            if found is None:
                raise ValueError(f"no glossary for {args.publisher}/{args.language}")
            print(f"# {found.label}, {found.updated_at:%Y-%m-%d %H:%M} by {found.updated_by}")
            for t in found.terms:
                print(f"{t.source}\t{t.target}\t{'required' if t.required else 'optional'}")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.glossary")
    sub = parser.add_subparsers(dest="cmd", required=True)
    load_cmd = sub.add_parser("load", help="save every publisher's terms from a YAML file")
    load_cmd.add_argument("file", type=Path)
    show = sub.add_parser("show", help="print a publisher's current glossary for one language")
    show.add_argument("publisher")
    show.add_argument("language")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"glossary: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
