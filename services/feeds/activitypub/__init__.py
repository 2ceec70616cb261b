"""ActivityPub: every public feed as a fediverse actor people follow from Mastodon (issue 25).

:mod:`.actors` names the actors and writes their documents; :mod:`.signatures` signs and checks
HTTP Signatures; :mod:`.keys` keeps our keys and fetches theirs; :mod:`.inbox` takes follows;
:mod:`.outbox` turns the feed logs into activities; :mod:`.delivery` sends them, signed, with
retries; :mod:`.routes` is the HTTP face and :mod:`.service` puts it together.
"""

from services.feeds.activitypub.routes import install
from services.feeds.activitypub.service import COLLECTIONS, Fediverse, build

__all__ = ["COLLECTIONS", "Fediverse", "build", "install"]
