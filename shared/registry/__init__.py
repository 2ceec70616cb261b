"""Who publishes and who subscribes: publishers, networks and partners.

The registry is written from a YAML file (``python -m tools.registry load FILE``) into the
database, where every service reads it; so all replicas of all services agree, and a change
reaches them within ``Registry.ttl`` seconds without a restart. The feeds service's admin API
(``services/feeds/admin/``) writes the same collections.

Partners (sister cities, city networks' members, news desks) receive publishers' feeds in the
languages they read, optionally filtered by subject, through private feed tokens. Like editor keys,
a token is stored only as its SHA-256 digest, which is also the document's ``_id``: the lookup is
one indexed point read (on FerretDB only an exact ``{"_id": ...}`` filter uses an index).

The package: :mod:`~shared.registry.models` (publishers, networks, partners and who receives
what), :mod:`~shared.registry.credentials` (editor keys and partner feed tokens),
:mod:`~shared.registry.loader` (the YAML file, validated, and writing it) and
:mod:`~shared.registry.reader` (:class:`Registry`, the services' cached read access). The
command line is ``tools/registry.py``.
"""

from shared.registry.credentials import (
    ALL_SCOPES,
    DEFAULT_GRACE,
    EDITOR_KEYS,
    PARTNER_TOKEN_PREFIX,
    PARTNER_TOKENS,
    EditorKey,
    PartnerToken,
    Scope,
    TokenState,
    create_editor_key,
    create_partner_token,
    editor_keys,
    key_digest,
    new_editor_key,
    new_partner_token,
    partner_tokens,
    revoke_all_partner_tokens,
    revoke_editor_keys,
    revoke_partner_token,
    rotate_partner_tokens,
)
from shared.registry.loader import RegistryContents, RegistryFile, read_file, read_registry, save
from shared.registry.models import (
    NETWORKS,
    PARTNERS,
    PUBLISHERS,
    Network,
    Partner,
    Publisher,
    check_network,
    check_partner,
    feed_languages_of,
    partner_wants,
    same_language,
    target_languages_of,
)
from shared.registry.reader import Registry

#: Every registry collection, for a service's ``ensure_indexes``.
COLLECTIONS = (PUBLISHERS, NETWORKS, EDITOR_KEYS, PARTNERS, PARTNER_TOKENS)

__all__ = [
    "ALL_SCOPES",
    "COLLECTIONS",
    "DEFAULT_GRACE",
    "EDITOR_KEYS",
    "NETWORKS",
    "PARTNERS",
    "PARTNER_TOKENS",
    "PARTNER_TOKEN_PREFIX",
    "PUBLISHERS",
    "EditorKey",
    "Network",
    "Partner",
    "PartnerToken",
    "Publisher",
    "Registry",
    "RegistryContents",
    "RegistryFile",
    "Scope",
    "TokenState",
    "check_network",
    "check_partner",
    "create_editor_key",
    "create_partner_token",
    "editor_keys",
    "feed_languages_of",
    "key_digest",
    "new_editor_key",
    "new_partner_token",
    "partner_tokens",
    "partner_wants",
    "read_file",
    "read_registry",
    "revoke_all_partner_tokens",
    "revoke_editor_keys",
    "revoke_partner_token",
    "rotate_partner_tokens",
    "same_language",
    "save",
    "target_languages_of",
]
