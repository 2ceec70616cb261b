"""Submit files through the ingest HTTP API, as an editor would.

    python -m services.ingest.cli submit FILE_OR_FOLDER... --key-file mashhad.key

``.json`` files are sent as they are (any input form); ``.html``/``.htm`` and ``.txt`` files are
sent as raw pages for ingest to extract. The key decides the publisher. Folders show a progress
bar; the exit status is 1 if any file was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

CONTENT_TYPES = {
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}


def files_in(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in CONTENT_TYPES))
        else:
            found.append(path)
    return found


def submit(path: Path, api: str, key: str) -> tuple[int, dict[str, Any]]:
    ctype = CONTENT_TYPES.get(path.suffix.lower(), "application/json")
    request = urllib.request.Request(
        f"{api.rstrip('/')}/articles",
        data=path.read_bytes(),
        headers={"Content-Type": f"{ctype}; charset=utf-8", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.load(err)
        except ValueError:
            return err.code, {"reason": err.reason}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.ingest.cli")
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmd = sub.add_parser("submit", help="submit article files (or folders of them)")
    cmd.add_argument("paths", nargs="+", type=Path)
    cmd.add_argument("--api", default="http://127.0.0.1:8000", help="ingest API base URL")
    cmd.add_argument("--key-file", type=Path, help="file holding the editor key")
    args = parser.parse_args(argv)
    key = args.key_file.read_text().strip() if args.key_file else os.environ.get("INGEST_API_KEY")
    if not key:
        parser.error("an editor key is needed: --key-file FILE or INGEST_API_KEY")
    files = files_in(args.paths)
    failures = 0
    with tqdm(files, unit="file", disable=len(files) < 2 or None, file=sys.stderr) as bar:
        for path in bar:
            try:
                status, body = submit(path, args.api, key)
            except OSError as exc:
                status, body = 0, {"reason": f"cannot reach {args.api}: {exc}"}
            if status == 202:
                bar.write(f"accepted  {path.name}: {body['article_id']}  {body.get('headline')}")
            else:
                failures += 1
                bar.write(f"refused   {path.name}: HTTP {status}: {body.get('reason', body)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
