"""Submit article files through the ingest HTTP API.

python -m services.ingest.cli submit FILE_OR_FOLDER... [--api http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path


def files_in(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return found


def submit(path: Path, api: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"{api.rstrip('/')}/articles",
        data=path.read_bytes(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ingest.cli")
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmd = sub.add_parser("submit", help="submit JSON article files (or folders of them)")
    cmd.add_argument("paths", nargs="+", type=Path)
    cmd.add_argument("--api", default="http://127.0.0.1:8000", help="ingest API base URL")
    args = parser.parse_args(argv)
    failures = 0
    for path in files_in(args.paths):
        status, body = submit(path, args.api)
        if status == 202:
            print(f"accepted  {path.name}: {body['article_id']}")
        else:
            failures += 1
            print(
                f"rejected  {path.name}: HTTP {status}: {body.get('reason', body)}", file=sys.stderr
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
