"""Publishers, networks and partners, and who receives what (pure: no database access)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts import LanguageTag, PublisherId, TranslationPolicy
from shared.display import http_url
from shared.languages import primary
from shared.storage import Collection

PUBLISHERS = Collection("publishers")
NETWORKS = Collection("networks")
PARTNERS = Collection("partners")


class Publisher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str
    language: LanguageTag = "fa"
    timezone: str = "Asia/Tehran"
    site: str | None = None
    icon: str | None = Field(
        default=None,
        description="A square PNG or JPEG picture of the publisher (its logo): its fediverse "
        "accounts' picture. Unset: the platform's globe.",
    )
    translate_to: list[LanguageTag] = Field(default_factory=list)
    translation_policy: TranslationPolicy = Field(
        default=TranslationPolicy.HOLD,
        description="Machine translations: `publish` (all go out, marked, with the checks' "
        "results), `hold` (one failing an automatic check waits for an editor), `review` "
        "(none goes out before an editor approves it).",
    )

    @field_validator("site", "icon")
    @classmethod
    def _http_site(cls, value: str | None) -> str | None:
        """The site is a link on the public directory and in the OPML, the icon a picture
        fediverse servers fetch: http(s) only."""
        if value is not None and http_url(value) is None:
            raise ValueError(f"must be an http:// or https:// URL, not {value[:80]!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def feed_languages(self) -> list[str]:
        return [self.language, *(lang for lang in self.translate_to if lang != self.language)]


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str
    members: list[PublisherId] = Field(default_factory=list)
    languages: list[LanguageTag] = Field(default_factory=list)


class Partner(BaseModel):
    """Who receives feeds: a partner city, a network's office, a news desk.

    It receives the publishers it lists plus every member of the networks it lists, in its
    languages, optionally only the entries on its subjects.
    """

    model_config = ConfigDict(extra="forbid")

    id: PublisherId
    name: str = Field(min_length=1)
    city: str | None = None
    languages: list[LanguageTag] = Field(
        min_length=1, description="Feed languages it receives; articles are translated into them."
    )
    publishers: list[PublisherId] = Field(default_factory=list)
    networks: list[PublisherId] = Field(
        default_factory=list, description="It receives every member of these networks."
    )
    subjects: list[str] = Field(
        default_factory=list,
        description="Only entries with one of these subjects (case-insensitive); empty: all.",
    )
    websub: bool = Field(default=True, description="May subscribe to its feeds via WebSub.")

    @field_validator("languages", "publishers", "networks")
    @classmethod
    def _once_each(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @field_validator("subjects")
    @classmethod
    def _clean_subjects(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in values]
        if not all(cleaned):
            raise ValueError("a subject cannot be blank")
        return list(dict.fromkeys(cleaned))

    @model_validator(mode="after")
    def _receives_something(self) -> Partner:
        if not self.publishers and not self.networks:
            raise ValueError(f"partner {self.id!r} receives nothing: list publishers or networks")
        return self

    def publisher_ids(self, networks: Iterable[Network]) -> list[str]:
        """Every publisher it receives: its own list, then the members of its networks."""
        by_id = {net.id: net for net in networks}
        ids = dict.fromkeys(self.publishers)
        for net_id in self.networks:
            if net_id in by_id:
                ids.update(dict.fromkeys(by_id[net_id].members))
        return list(ids)

    def receives(self, publisher_id: str, networks: Iterable[Network]) -> bool:
        return publisher_id in self.publisher_ids(networks)

    def wants_subjects(self, subjects: Sequence[str]) -> bool:
        """True when it takes every subject, or one of these subjects is among its own."""
        if not self.subjects:
            return True
        wanted = {s.casefold() for s in self.subjects}
        return any(" ".join(s.split()).casefold() in wanted for s in subjects)


def partner_wants(
    partner: Partner, publisher: str, subjects: Sequence[str], networks: Iterable[Network]
) -> bool:
    """Whether an entry of ``publisher`` on ``subjects`` belongs in the partner's feeds."""
    return partner.receives(publisher, networks) and partner.wants_subjects(subjects)


def feed_languages_of(
    publisher: Publisher, networks: Iterable[Network], partners: Iterable[Partner]
) -> list[str]:
    """Every language the publisher's articles appear in, its own first: its ``translate_to``,
    the languages of every network carrying it and of every partner receiving it (directly or
    through a network). An original may be written in any of them (issue 21)."""
    networks = list(networks)
    wanted = [publisher.language, *publisher.translate_to]
    for net in networks:
        if publisher.id in net.members:
            wanted.extend(net.languages)
    for partner in partners:
        if partner.receives(publisher.id, networks):
            wanted.extend(partner.languages)
    return list(dict.fromkeys(wanted))


def target_languages_of(
    publisher: Publisher,
    networks: Iterable[Network],
    partners: Iterable[Partner],
    source: str | None = None,
) -> list[str]:
    """Languages an article of the publisher is translated into: every one of its
    :func:`feed_languages_of` but the article's own (``source``; the publisher's language when
    not given). An English original of a Persian publisher is translated into Persian too."""
    own = source or publisher.language
    feed = feed_languages_of(publisher, networks, partners)
    return [lang for lang in feed if not same_language(lang, own)]


def same_language(one: str, other: str) -> bool:
    """Whether two tags name the same language for translating: equal, or one is the other's
    bare primary subtag (``fa`` and ``fa-IR``; not ``zh-Hans`` and ``zh-Hant``)."""
    if one == other:
        return True
    return primary(one) == primary(other) and primary(one) in (one, other)


def check_network(network: Network, publishers: Iterable[str]) -> None:
    """ValueError naming the members that are not registered publishers."""
    unknown = sorted(set(network.members) - set(publishers))
    if unknown:
        raise ValueError(f"network {network.id!r} lists unknown publishers: {unknown}")


def check_partner(partner: Partner, publishers: Iterable[str], networks: Iterable[str]) -> None:
    """ValueError naming the publishers or networks the partner lists that do not exist."""
    known_pubs, known_nets = set(publishers), set(networks)
    unknown = sorted(set(partner.publishers) - known_pubs)
    if unknown:
        raise ValueError(
            f"partner {partner.id!r} lists unknown publishers: {unknown}; "
            f"registered publishers: {sorted(known_pubs) or 'none'}"
        )
    unknown = sorted(set(partner.networks) - known_nets)
    if unknown:
        raise ValueError(
            f"partner {partner.id!r} lists unknown networks: {unknown}; "
            f"registered networks: {sorted(known_nets) or 'none'}"
        )
