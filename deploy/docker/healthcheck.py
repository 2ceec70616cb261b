"""The image's HEALTHCHECK: is this container's service answering ``GET /healthz``?

Standard library only, so it starts fast and needs nothing the image may lack (no curl in a slim
image). The service is ``$SERVICE``; its port is ``${SERVICE}_HTTP_PORT`` (set in the image to
the settings' default, overridable like any setting). Exit 0 when healthy, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping


def healthz_url(environ: Mapping[str, str]) -> str:
    service = environ.get("SERVICE", "").strip()
    if not service:
        raise ValueError("SERVICE is not set")
    port = environ.get(f"{service.upper()}_HTTP_PORT", "").strip()
    if not port.isdigit():
        raise ValueError(f"{service.upper()}_HTTP_PORT is not a port: {port!r}")
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    try:
        url = healthz_url(os.environ)
        with urllib.request.urlopen(url, timeout=4) as response:
            ok = response.status == 200
    except (ValueError, OSError) as exc:  # URLError and HTTPError (a 503) are OSErrors
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
