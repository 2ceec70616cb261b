"""A local server speaking the Hugging Face hub's HTTP API the way ``huggingface_hub`` calls it.

The real client is pointed at it with ``HF_ENDPOINT``, so ``models fetch`` is tested through the
same code that talks to huggingface.co. What the client needs (read from huggingface_hub 2.4's
``file_download.py``, ``hf_api.py`` and ``utils/_http.py``):

* ``GET /api/models/{repo}/revision/{rev}``: the repository at a revision (``model_info``);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: every answer carries ``X-Repo-Commit`` and an
  ``ETag`` (the git blob id); a large (LFS) file answers ``302`` to a CDN on another origin with
  ``X-Linked-Etag`` (its SHA-256) and ``X-Linked-Size``, and the client downloads from there
  without its token;
* the CDN honours ``Range: bytes=N-`` (``206`` with ``Content-Range``), which is how the client
  resumes a transfer cut in the middle;
* errors name themselves in ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``, ``GatedRepo``).

The tests can corrupt a file (same length, other bytes, as a bad mirror would serve), cut the next
download of a file in the middle, hold one half-sent (to interrupt the client at a known point),
require a token, and read every request the client made.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)/revision/([^/]+)$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_CDN = re.compile(r"^/cdn/([0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d+)-$")
LFS_SUFFIXES = (".bin", ".model", ".spm", ".safetensors")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    commit: str
    files: dict[str, bytes]
    token: str | None = None
    """A gated repository: the client must send ``Authorization: Bearer <token>``."""


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    server: str  # "hub" or "cdn"
    method: str
    path: str
    range: str | None
    authorized: bool


@dataclass
class _State:
    repos: dict[str, Repo] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes, what the CDN serves
    corrupt: set[str] = field(default_factory=set)  # sha256s served with other bytes
    cut_once: set[str] = field(default_factory=set)  # sha256s whose next GET stops halfway
    hold: dict[str, tuple[threading.Event, threading.Event]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cdn_url: str = ""


def is_lfs(name: str) -> bool:
    return name.endswith(LFS_SUFFIXES)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State
    kind: str

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _record(self, path: str) -> None:
        with self.state.lock:
            self.state.seen.append(
                Seen(
                    server=self.kind,
                    method=self.command,
                    path=path,
                    range=self.headers.get("Range"),
                    authorized=self.headers.get("Authorization") is not None,
                )
            )

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, commit: str | None = None) -> None:
        headers = {
            "X-Error-Code": code,
            "X-Error-Message": code,
            "Content-Type": "application/json",
        }
        if commit is not None:
            headers["X-Repo-Commit"] = commit
        self._send(status, headers, json.dumps({"error": code}).encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        self._record(path)
        if self.kind == "cdn":
            self._cdn(path)
        elif m := _INFO.match(path):
            self._info(m[1], m[2])
        elif m := _RESOLVE.match(path):
            self._resolve(m[1], m[2], m[3])
        else:
            self._error(404, "NotFound")

    def _repo(self, repo_id: str, revision: str) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self._error(401, "RepoNotFound")
            return None
        if repo.token is not None and self.headers.get("Authorization") != f"Bearer {repo.token}":
            self._error(401, "GatedRepo")
            return None
        if revision not in (repo.commit, "main"):
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def _info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        body = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": repo.token is not None,
            "siblings": [{"rfilename": name} for name in sorted(repo.files)],
        }
        self._send(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _resolve(self, repo_id: str, revision: str, name: str) -> None:
        repo = self._repo(repo_id, revision)
        if repo is None:
            return
        data = repo.files.get(name)
        if data is None:
            self._error(404, "EntryNotFound", commit=repo.commit)
            return
        headers = {"X-Repo-Commit": repo.commit}
        if not is_lfs(name):
            headers["ETag"] = f'"{git_blob_id(data)}"'
            self._send(200, headers, self._served(hashlib.sha256(data).hexdigest(), data))
            return
        sha = hashlib.sha256(data).hexdigest()
        pointer = (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n"
        )
        headers |= {
            "ETag": f'"{git_blob_id(pointer.encode())}"',
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(len(data)),
            "Location": f"{self.state.cdn_url}/cdn/{sha}",
        }
        self._send(302, headers)

    def _served(self, sha: str, data: bytes) -> bytes:
        if sha in self.state.corrupt and data:
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def _cdn(self, path: str) -> None:
        m = _CDN.match(path)
        data = self.state.blobs.get(m[1]) if m else None
        if m is None or data is None:
            self._send(404, {"Content-Type": "text/plain"}, b"no such object\n")  # a bare CDN 404
            return
        sha = m[1]
        data = self._served(sha, data)
        start = 0
        if (r := _RANGE.match(self.headers.get("Range", ""))) is not None:
            start = int(r[1])
        headers = {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"}
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        with self.state.lock:
            cut = self.command == "GET" and sha in self.state.cut_once
            self.state.cut_once.discard(sha)
            held = self.state.hold.pop(sha, None) if self.command == "GET" else None
        if not cut and held is None:
            self._send(status, headers, body)
            return
        self._send_half(status, headers, body, held)

    def _send_half(
        self,
        status: int,
        headers: dict[str, str],
        body: bytes,
        held: tuple[threading.Event, threading.Event] | None,
    ) -> None:
        """Declare the whole length, send half, then drop the connection (after ``held`` is
        released, when given)."""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if held is not None:
            half_sent, release = held
            half_sent.set()
            release.wait(timeout=60)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class LocalHub:
    """The hub at ``url`` and its CDN, each a threaded HTTP server on 127.0.0.1."""

    def __init__(self) -> None:
        self.state = _State()
        self._servers: list[ThreadingHTTPServer] = []
        self.url = self._serve("hub")
        self.state.cdn_url = self._serve("cdn")

    def _serve(self, kind: str) -> str:
        handler = type(f"_{kind}", (_Handler,), {"state": self.state, "kind": kind})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        for release in [r for _, r in self.state.hold.values()]:
            release.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, token: str | None = None) -> Repo:
        """Publish ``files`` as one commit of ``repo_id`` (its id derived from the content)."""
        listing = "".join(
            f"{n}:{hashlib.sha256(d).hexdigest()}\n" for n, d in sorted(files.items())
        )
        repo = Repo(repo_id, hashlib.sha1(listing.encode()).hexdigest(), dict(files), token)
        with self.state.lock:
            self.state.repos[repo_id] = repo
            for data in files.values():
                self.state.blobs[hashlib.sha256(data).hexdigest()] = data
        return repo

    def add_folder(self, repo_id: str, folder: Path, *, skip: tuple[str, ...] = ()) -> Repo:
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip
        }
        return self.add_repo(repo_id, files)

    def _sha(self, repo_id: str, name: str) -> str:
        return hashlib.sha256(self.state.repos[repo_id].files[name]).hexdigest()

    def corrupt(self, repo_id: str, name: str, on: bool = True) -> None:
        """Serve other bytes of the same length for ``name`` (or stop doing so)."""
        with self.state.lock:
            (self.state.corrupt.add if on else self.state.corrupt.discard)(self._sha(repo_id, name))

    def cut_next_download(self, repo_id: str, name: str) -> None:
        """The next GET of ``name`` (an LFS file) stops halfway through its body."""
        with self.state.lock:
            self.state.cut_once.add(self._sha(repo_id, name))

    def hold_next_download(
        self, repo_id: str, name: str
    ) -> tuple[threading.Event, threading.Event]:
        """The next GET of ``name`` sends half, sets the first event, and waits for the second
        before dropping the connection."""
        events = (threading.Event(), threading.Event())
        with self.state.lock:
            self.state.hold[self._sha(repo_id, name)] = events
        return events

    def seen(self) -> list[Seen]:
        with self.state.lock:
            return list(self.state.seen)

    def downloads(self, name: str) -> list[Seen]:
        """The GET requests that transferred ``name``'s bytes (hub or CDN)."""
        shas = {
            hashlib.sha256(d).hexdigest()
            for r in self.state.repos.values()
            for n, d in r.files.items()
            if n == name
        }
        return [
            s
            for s in self.seen()
            if s.method == "GET"
            and (
                (s.server == "cdn" and s.path.removeprefix("/cdn/") in shas)
                or (s.server == "hub" and "/resolve/" in s.path and s.path.endswith("/" + name))
            )
        ]


@contextmanager
def local_hub() -> Iterator[LocalHub]:
    hub = LocalHub()
    try:
        yield hub
    finally:
        hub.close()
