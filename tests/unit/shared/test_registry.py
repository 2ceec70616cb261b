"""The registry: publishers, networks and partners from YAML, partners' feed tokens, the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

import tools.registry as registry_cli
from shared.registry import (
    PARTNER_TOKENS,
    Network,
    Partner,
    Publisher,
    Registry,
    RegistryFile,
    create_partner_token,
    feed_languages_of,
    key_digest,
    partner_tokens,
    partner_wants,
    read_file,
    read_registry,
    revoke_partner_token,
    rotate_partner_tokens,
    same_language,
    save,
    target_languages_of,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "local" / "registry.yaml"
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


# --- an in-memory stand-in for the few collection methods the registry uses -------------------


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """Equality only; ``None`` matches a missing field too, as in MongoDB."""
    return all(doc.get(k) == v for k, v in query.items())


class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def sort(self, key: str, direction: int = 1) -> FakeCursor:
        self.docs.sort(key=lambda d: d[key], reverse=direction < 0)
        return self

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async def each() -> AsyncIterator[dict[str, Any]]:
            for doc in self.docs:
                yield doc

        return each()


class FakeCollection:
    """Documents by ``_id``; records point reads, so tests can check lookups stay indexed."""

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}
        self.point_reads: list[dict[str, Any]] = []

    def find(self, query: dict[str, Any] | None = None) -> FakeCursor:
        return FakeCursor([dict(d) for d in self.docs.values() if _matches(d, query or {})])

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        assert set(query) == {"_id"}, f"{query} is not a point read: FerretDB would scan"
        self.point_reads.append(query)
        doc = self.docs.get(query["_id"])
        return dict(doc) if doc else None

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = dict(doc)

    async def replace_one(
        self, query: dict[str, Any], doc: dict[str, Any], upsert: bool = False
    ) -> SimpleNamespace:
        key = query["_id"]
        new = key not in self.docs
        if new and not upsert:
            return SimpleNamespace(matched_count=0, upserted_id=None)
        self.docs[key] = {"_id": key, **doc}
        return SimpleNamespace(matched_count=int(not new), upserted_id=key if new else None)

    async def _update(self, query: dict[str, Any], change: dict[str, Any], many: bool) -> Any:
        hits = [d for d in self.docs.values() if _matches(d, query)][: None if many else 1]
        for doc in hits:
            doc.update(change["$set"])
        return SimpleNamespace(matched_count=len(hits), modified_count=len(hits))

    async def update_one(self, query: dict[str, Any], change: dict[str, Any]) -> Any:
        return await self._update(query, change, many=False)

    async def update_many(self, query: dict[str, Any], change: dict[str, Any]) -> Any:
        return await self._update(query, change, many=True)

    async def delete_one(self, query: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(deleted_count=int(self.docs.pop(query["_id"], None) is not None))

    async def count_documents(self, query: dict[str, Any]) -> int:
        return sum(1 for d in self.docs.values() if _matches(d, query))


class FakeDb:
    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection())

    def dump(self) -> str:
        """Everything stored, as text: a secret must never appear in it."""
        return json.dumps(
            {n: list(c.docs.values()) for n, c in self.collections.items()}, default=str
        )


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


PUBLISHERS = [
    Publisher(id="mashhad", name="Mashhad", translate_to=["en"]),
    Publisher(id="tehran", name="Tehran", translate_to=["en", "ar"]),
    Publisher(id="gorgan", name="Gorgan"),
]
NETWORKS = [Network(id="metropolis", name="Metropolis", members=["tehran", "gorgan"])]
PARTNERS = [
    Partner(id="istanbul", name="Istanbul", languages=["tr", "en"], publishers=["mashhad"]),
    Partner(
        id="kazan",
        name="Kazan",
        languages=["ru", "fa"],
        networks=["metropolis"],
        subjects=["City Diplomacy", "culture"],
    ),
]


async def world(clock: Clock | None = None, ttl: float = 5.0) -> tuple[FakeDb, Registry]:
    db = FakeDb()
    await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
    return db, Registry(db, ttl=ttl, clock=clock or Clock())  # type: ignore[arg-type]


# --- the registry file ---------------------------------------------------------------------------


def test_sample_registry_loads() -> None:
    publishers, networks = read_file(FIXTURES / "registry.yaml")
    assert {p.id for p in publishers} == {"mashhad", "tehran", "gorgan"}
    mashhad = next(p for p in publishers if p.id == "mashhad")
    assert mashhad.feed_languages == ["fa", "en", "ar", "ru"]
    assert networks[0].members == ["mashhad", "tehran", "gorgan"]


def test_the_local_registry_has_partners_receiving_directly_and_through_a_network() -> None:
    contents = read_registry(SAMPLE)
    partners = {p.id: p for p in contents.partners}
    assert partners["istanbul"].publisher_ids(contents.networks) == ["mashhad"]
    assert partners["kazan"].publisher_ids(contents.networks) == ["mashhad", "tehran", "gorgan"]
    assert partners["kazan"].subjects and partners["kazan"].languages == ["ru", "en"]


def test_a_network_of_unknown_publishers_is_refused() -> None:
    data = RegistryFile.model_validate(
        {"networks": {"metropolis": {"name": "M", "members": ["atlantis"]}}}
    )
    with pytest.raises(ValueError, match="unknown publishers"):
        data.parsed()


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        RegistryFile.model_validate(
            {"publishers": {"x": {"name": "X", "timezone": "Mars/Olympus"}}}
        ).parsed()


@pytest.mark.parametrize(
    "site",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/",
        "ftp://files.example/",
        "http://",
        "mashhad.ir",
    ],
)
def test_a_publisher_site_that_is_not_an_http_url_is_refused(site: str) -> None:
    """Finding 8: the site becomes a link on /feeds and in the OPML; only http(s) may."""
    with pytest.raises(ValidationError) as refused:
        RegistryFile.model_validate({"publishers": {"evil": {"name": "E", "site": site}}}).parsed()
    [error] = refused.value.errors()
    assert error["loc"] == ("site",) and "must be an http:// or https:// URL" in error["msg"]
    with pytest.raises(ValidationError, match="must be an http:// or https:// URL"):
        Publisher(id="evil", name="E", site=site)


def test_an_http_site_is_kept_as_written() -> None:
    for site in ("https://www.mashhad.ir", "http://tehran.ir/fa/news?x=1"):
        assert Publisher(id="p", name="P", site=site).site == site


async def test_a_stored_publisher_with_a_bad_site_keeps_its_feeds_but_loses_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Written to the database by hand (or before sites were checked): the publisher stays,
    only the link goes, and the log says so."""
    db, registry = await world()
    db["publishers"].docs["tehran"]["site"] = "javascript:alert(1)"
    await registry.refresh(force=True)
    tehran = await registry.publisher("tehran")
    assert tehran is not None and tehran.site is None
    assert "site dropped" in caplog.text


@pytest.mark.parametrize(
    ("partner", "reason"),
    [
        (
            {"name": "K", "languages": ["ru"], "publishers": ["atlantis"]},
            "partner 'kazan' lists unknown publishers: ['atlantis']; registered publishers: "
            "['tehran']",
        ),
        (
            {"name": "K", "languages": ["ru"], "networks": ["opec"]},
            "partner 'kazan' lists unknown networks: ['opec']",
        ),
        ({"name": "K", "publishers": ["tehran"]}, "partner 'kazan': languages: is required"),
        ({"name": "K", "languages": ["ru"]}, "partner 'kazan' receives nothing"),
        (
            {"name": "K", "languages": ["ru"], "publishers": ["tehran"], "subjects": [" "]},
            "subjects: a subject cannot be blank",
        ),
        (
            {"name": "K", "languages": ["Russian"], "publishers": ["tehran"]},
            "partner 'kazan': languages.0: String should match pattern",
        ),
        (
            {"name": "K", "languages": ["ru"], "publishers": ["tehran"], "colour": "red"},
            "partner 'kazan': colour: is not a known field",
        ),
    ],
)
def test_a_partner_in_the_file_is_checked_with_a_readable_reason(
    partner: dict[str, Any], reason: str
) -> None:
    data = RegistryFile.model_validate(
        {"publishers": {"tehran": {"name": "T"}}, "partners": {"kazan": partner}}
    )
    with pytest.raises(ValueError) as refused:
        data.parsed()
    assert reason in str(refused.value)


def test_a_partner_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(
        "publishers:\n  tehran: {name: T}\n"
        "networks:\n  metropolis: {name: M, members: [tehran]}\n"
        "partners:\n  Kazan: {name: K, languages: [ru], networks: [metropolis], websub: false}\n"
    )
    contents = read_registry(path)
    assert contents.partners == [
        Partner(id="kazan", name="K", languages=["ru"], networks=["metropolis"], websub=False)
    ]
    assert read_file(path) == (contents.publishers, contents.networks)


# --- who receives what, in which languages ------------------------------------------------------


async def test_target_languages_include_the_languages_of_every_receiving_partner() -> None:
    _, registry = await world()
    # istanbul lists mashhad directly; kazan receives tehran and gorgan through metropolis.
    assert await registry.target_languages("mashhad") == ["en", "tr"]
    assert await registry.target_languages("tehran") == ["en", "ar", "ru"]  # not its own fa
    assert await registry.target_languages("gorgan") == ["ru"]
    assert [p.id for p in await registry.partners_of("gorgan")] == ["kazan"]
    kazan = await registry.partner("kazan")
    assert kazan is not None
    assert await registry.partner_publishers(kazan) == ["tehran", "gorgan"]


async def test_an_original_in_another_feed_language_is_translated_into_the_publishers_own() -> None:
    _, registry = await world()
    assert await registry.feed_languages("tehran") == ["fa", "en", "ar", "ru"]  # its own first
    assert await registry.target_languages("tehran", "fa") == ["en", "ar", "ru"]
    # An English original: Persian included, English (its own) left out.
    assert await registry.target_languages("tehran", "en") == ["fa", "ar", "ru"]
    assert await registry.target_languages("mashhad", "tr") == ["fa", "en"]
    # A language none of its feeds has is still translated into all of them.
    assert await registry.target_languages("gorgan", "de") == ["fa", "ru"]
    assert await registry.feed_languages("atlantis") == []
    assert await registry.target_languages("atlantis", "en") == []


def test_feed_languages_name_each_language_once_whoever_asks_for_it() -> None:
    pub = Publisher(id="yazd", name="Yazd", translate_to=["en", "fa", "en"])
    net = Network(id="silk", name="Silk", members=["yazd"], languages=["zh", "en"])
    partner = Partner(id="xian", name="Xi'an", languages=["zh", "fa"], networks=["silk"])
    assert feed_languages_of(pub, [net], [partner]) == ["fa", "en", "zh"]
    assert target_languages_of(pub, [net], [partner]) == ["en", "zh"]
    assert target_languages_of(pub, [net], [partner], "zh") == ["fa", "en"]
    # A region subtag names the same language; another script does not.
    assert target_languages_of(pub, [net], [partner], "fa-IR") == ["en", "zh"]
    assert target_languages_of(pub, [net], [partner], "zh-Hant") == ["fa", "en"]
    assert same_language("zh", "zh-Hans") and not same_language("zh-Hans", "zh-Hant")
    assert not same_language("fa", "prs")


async def test_a_partner_added_to_the_database_changes_target_languages_after_a_refresh() -> None:
    db, registry = await world()
    assert "de" not in await registry.target_languages("gorgan")
    await save(db, [], [], [Partner(id="bonn", name="B", languages=["de"], publishers=["gorgan"])])  # type: ignore[arg-type]
    await registry.refresh(force=True)
    assert "de" in await registry.target_languages("gorgan")


def test_partner_wants_filters_by_publisher_and_subject() -> None:
    kazan, istanbul = PARTNERS[1], PARTNERS[0]
    assert partner_wants(kazan, "tehran", ["city diplomacy"], NETWORKS)  # case-insensitive
    assert partner_wants(kazan, "gorgan", ["sport", " Culture "], NETWORKS)  # any one is enough
    assert not partner_wants(kazan, "gorgan", ["sport"], NETWORKS)
    assert not partner_wants(kazan, "gorgan", [], NETWORKS)  # a filter needs a subject
    assert not partner_wants(kazan, "mashhad", ["culture"], NETWORKS)  # not in metropolis
    assert partner_wants(istanbul, "mashhad", [], NETWORKS)  # no filter: every subject
    assert not partner_wants(istanbul, "tehran", ["culture"], NETWORKS)


async def test_the_registry_answers_partner_wants_with_its_own_networks() -> None:
    _, registry = await world()
    istanbul, kazan = await registry.partners()
    assert registry.partner_wants(kazan, "gorgan", ["culture"])  # gorgan is in metropolis
    assert not registry.partner_wants(kazan, "mashhad", ["culture"])
    assert registry.partner_wants(istanbul, "mashhad", ["sport"])


# --- partners' feed tokens -------------------------------------------------------------------


async def test_a_token_names_its_partner_through_one_point_read_and_is_never_stored() -> None:
    db, registry = await world()
    token, record = await create_partner_token(db, "kazan")
    assert token.startswith("cfp_kazan_") and record.id.startswith("t_")
    partner = await registry.partner_for_token(token)
    assert partner is not None and partner.id == "kazan"
    assert db[PARTNER_TOKENS.name].point_reads == [{"_id": key_digest(token)}]
    assert token not in db.dump()
    assert await registry.partner_for_token(token + "x") is None
    reads = len(db[PARTNER_TOKENS.name].point_reads)
    assert await registry.partner_for_token("not-a-partner-token") is None
    assert len(db[PARTNER_TOKENS.name].point_reads) == reads  # no read for foreign tokens


async def test_rotation_keeps_the_old_token_working_until_the_grace_period_ends() -> None:
    clock = Clock()
    db, registry = await world(clock, ttl=0)
    old, _ = await create_partner_token(db, "kazan", T0)
    new, record, previous = await rotate_partner_tokens(db, "kazan", timedelta(days=7), T0)
    assert [p.expires_at for p in previous] == [T0 + timedelta(days=7)]
    assert record.expires_at is None
    clock.now = T0 + timedelta(days=6, hours=23)
    assert await registry.partner_for_token(old) is not None
    assert await registry.partner_for_token(new) is not None
    clock.now = T0 + timedelta(days=7)
    assert await registry.partner_for_token(old) is None
    assert await registry.partner_for_token(new) is not None
    states = [t.state(clock.now) for t in await partner_tokens(db, "kazan")]
    assert states == ["expired", "live"]


async def test_rotation_never_lengthens_a_token_and_grace_zero_ends_the_old_one_at_once() -> None:
    clock = Clock()
    db, registry = await world(clock, ttl=0)
    first, _ = await create_partner_token(db, "kazan", T0)
    await rotate_partner_tokens(db, "kazan", timedelta(days=1), T0)
    _, _, previous = await rotate_partner_tokens(db, "kazan", timedelta(days=30), T0)
    assert sorted(p.expires_at for p in previous if p.expires_at) == [  # type: ignore[type-var]
        T0 + timedelta(days=1),
        T0 + timedelta(days=30),
    ]
    latest, _, _ = await rotate_partner_tokens(db, "kazan", timedelta(0), T0)
    assert await registry.partner_for_token(first) is None
    assert await registry.partner_for_token(latest) is not None
    with pytest.raises(ValueError, match="negative"):
        await rotate_partner_tokens(db, "kazan", timedelta(days=-1), T0)


async def test_a_revoked_token_stops_at_once_here_and_within_the_ttl_elsewhere() -> None:
    db, here = await world()
    elsewhere = Registry(db, ttl=0)  # type: ignore[arg-type]
    token, record = await create_partner_token(db, "istanbul")
    assert await here.partner_for_token(token) is not None
    assert await revoke_partner_token(db, record.id, partner="kazan") is False  # not kazan's
    assert await revoke_partner_token(db, record.id) is True
    assert await revoke_partner_token(db, record.id) is False  # already revoked
    assert await elsewhere.partner_for_token(token) is None
    here.forget_tokens()  # what the admin API does after a change
    assert await here.partner_for_token(token) is None


async def test_a_token_of_a_removed_partner_no_longer_works() -> None:
    db, registry = await world(ttl=0)
    token, _ = await create_partner_token(db, "istanbul")
    await db["partners"].delete_one({"_id": "istanbul"})
    assert await registry.partner_for_token(token) is None


async def test_a_bad_stored_entry_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    db, registry = await world()
    db["partners"].docs["broken"] = {"_id": "broken", "name": "B", "languages": []}
    await registry.refresh(force=True)
    assert [p.id for p in await registry.partners()] == ["istanbul", "kazan"]
    assert "registry entry skipped" in caplog.text


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDb]:
    db = FakeDb()

    async def with_fake_db(work: Any) -> None:
        if not db.collections:
            await save(db, PUBLISHERS, NETWORKS, PARTNERS)  # type: ignore[arg-type]
        await work(db)

    monkeypatch.setattr(registry_cli, "_with_db", with_fake_db)
    yield db


def test_partner_tokens_from_the_command_line(
    cli: FakeDb, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    main = registry_cli.main
    assert main(["partner-token", "create", "kazan"]) == 0
    created = capsys.readouterr()
    token = created.out.strip()
    assert token.startswith("cfp_kazan_") and "shown once" in created.err

    out = str(tmp_path / "t")
    assert main(["partner-token", "rotate", "kazan", "--grace-days", "2", "--out", out]) == 0
    rotated = capsys.readouterr()
    assert "cfp_" not in rotated.out + rotated.err and "keeps working until" in rotated.out
    new = (tmp_path / "t").read_text().strip()
    assert new.startswith("cfp_kazan_") and new != token

    assert main(["partner-token", "list", "kazan"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("t_") == 2 and "expiring" in listing and "live" in listing
    assert "cfp_" not in listing and key_digest(token) not in listing

    token_id = listing.split()[0]
    assert main(["partner-token", "revoke", token_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["partner-token", "revoke", token_id]) == 1
    assert "no unrevoked partner token" in capsys.readouterr().err

    assert main(["partner-token", "create", "atlantis"]) == 1
    assert "unknown partner 'atlantis'; registered partners: istanbul, kazan" in (
        capsys.readouterr().err
    )
    assert main(["partner-token", "rotate", "kazan", "--grace-days", "-1"]) == 1
    assert "--grace-days must be between 0 and 365" in capsys.readouterr().err
