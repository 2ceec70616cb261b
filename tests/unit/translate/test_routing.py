import logging
from collections.abc import Sequence

import pytest

from services.translate.engines import PseudoEngine, TranslationEngine
from services.translate.routing import (
    AllEnginesFailed,
    Leg,
    NoRoute,
    Routed,
    Router,
    worth_another_engine,
)


class FakeEngine:
    """Engine with configurable pairs and failures that records every call it gets."""

    def __init__(
        self,
        name: str,
        pairs: Sequence[tuple[str, str]],
        *,
        model: str | None = None,
        model_version: str | None = "1",
        fail: dict[tuple[str, str], Exception] | None = None,
        short: bool = False,
    ) -> None:
        self.name = name
        self.model: str | None = model if model is not None else f"{name}-model"
        self.model_version: str | None = model_version
        self.pairs = set(pairs)
        self.fail = fail or {}
        self.short = short
        self.calls: list[tuple[list[str], str, str]] = []

    def supports(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    async def translate(self, segments: Sequence[str], source: str, target: str) -> list[str]:
        self.calls.append((list(segments), source, target))
        if (source, target) in self.fail:
            raise self.fail[(source, target)]
        out = [f"{self.name}:{target}({s})" for s in segments]
        return out[:-1] if self.short else out


class ServiceUnavailable(Exception):
    pass


def router(*engines: TranslationEngine) -> Router:
    return Router(engines)


def names(routes: Sequence[tuple[TranslationEngine, ...]]) -> list[tuple[str, ...]]:
    return [tuple(e.name for e in route) for route in routes]


async def test_direct_pair_is_preferred_over_pivot() -> None:
    pivot = FakeEngine("pivoty", [("fa", "en"), ("en", "ar")])
    direct = FakeEngine("direct", [("fa", "ar")])
    r = router(pivot, direct)
    assert names(r.routes("fa", "ar")) == [("direct",), ("pivoty", "pivoty")]
    out = await r.translate(["سلام"], "fa", "ar")
    assert out.texts == ["direct:ar(سلام)"]
    assert out.legs == (Leg("direct", "direct-model", "1", "fa", "ar"),)
    assert out.pivot is None and out.engine == "direct"
    assert pivot.calls == []


async def test_pivots_through_english_when_no_direct_pair() -> None:
    ct2 = FakeEngine("ctranslate2", [("fa", "en"), ("en", "ar")], model="opus")
    out = await router(ct2).translate(["سلام", "شهر"], "fa", "ar")
    assert out.texts == [
        "ctranslate2:ar(ctranslate2:en(سلام))",
        "ctranslate2:ar(ctranslate2:en(شهر))",
    ]
    assert out.legs == (
        Leg("ctranslate2", "opus", "1", "fa", "en"),
        Leg("ctranslate2", "opus", "1", "en", "ar"),
    )
    assert out.pivot == "en"
    assert (out.engine, out.model, out.model_version) == ("ctranslate2", "opus", "1")
    assert [c[1:] for c in ct2.calls] == [("fa", "en"), ("en", "ar")]


async def test_mixed_engine_pivot_is_named_after_both() -> None:
    ct2 = FakeEngine("ctranslate2", [("fa", "en")], model="opus-fa-en", model_version="4")
    libre = FakeEngine("libretranslate", [("en", "ar")], model_version="1.6")
    libre.model = None
    out = await router(ct2, libre).translate(["x"], "fa", "ar")
    assert out.engine == "ctranslate2+libretranslate"
    assert out.model == "opus-fa-en"
    assert out.model_version == "4+1.6"
    assert out.pivot == "en"


def test_routed_without_models_reports_none() -> None:
    out = Routed(["x"], (Leg("a", None, None, "fa", "en"),))
    assert (out.engine, out.model, out.model_version, out.pivot) == ("a", None, None, None)


async def test_falls_back_to_the_next_engine_on_timeout(caplog: pytest.LogCaptureFixture) -> None:
    first = FakeEngine("first", [("fa", "en")], fail={("fa", "en"): TimeoutError("slow")})
    second = FakeEngine("second", [("fa", "en")])
    with caplog.at_level(logging.WARNING, logger="services.translate.routing"):
        out = await router(first, second).translate(["x"], "fa", "en")
    assert out.texts == ["second:en(x)"] and out.engine == "second"
    assert len(first.calls) == 1 and len(second.calls) == 1
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "first" in message and "second" in message and "TimeoutError: slow" in message


async def test_failing_pivot_leg_falls_back_to_another_route() -> None:
    a = FakeEngine("a", [("fa", "en")])
    b = FakeEngine("b", [("en", "ar")], fail={("en", "ar"): ConnectionError("refused")})
    c = FakeEngine("c", [("en", "ar")])
    r = router(a, b, c)
    assert names(r.routes("fa", "ar")) == [("a", "b"), ("a", "c")]
    out = await r.translate(["x"], "fa", "ar")
    assert out.texts == ["c:ar(a:en(x))"]
    assert out.engine == "a+c" and out.pivot == "en"
    # the fa→en leg that succeeded is reused, not translated again
    assert len(a.calls) == 1 and len(b.calls) == 1 and len(c.calls) == 1


async def test_failed_leg_is_not_retried_within_one_call() -> None:
    a = FakeEngine("a", [("fa", "en")], fail={("fa", "en"): ServiceUnavailable("down")})
    b = FakeEngine("b", [("en", "ar")])
    c = FakeEngine("c", [("en", "ar")])
    with pytest.raises(AllEnginesFailed) as info:
        await router(a, b, c).translate(["x"], "fa", "ar")
    assert len(a.calls) == 1 and b.calls == [] and c.calls == []
    assert len(info.value.errors) == 2


async def test_non_transient_error_is_raised_without_trying_others() -> None:
    bad = FakeEngine("bad", [("fa", "en")], fail={("fa", "en"): ValueError("bad input")})
    other = FakeEngine("other", [("fa", "en")])
    with pytest.raises(ValueError, match="bad input"):
        await router(bad, other).translate(["x"], "fa", "en")
    assert other.calls == []


async def test_all_engines_failed_lists_every_route() -> None:
    a = FakeEngine("a", [("fa", "ar")], fail={("fa", "ar"): TimeoutError("t1")})
    b = FakeEngine("b", [("fa", "en"), ("en", "ar")], fail={("en", "ar"): OSError("disk")})
    with pytest.raises(AllEnginesFailed) as info:
        await router(a, b).translate(["x"], "fa", "ar")
    err = info.value
    assert [route for route, _ in err.errors] == ["a fa→ar", "b fa→en, b en→ar"]
    assert str(err) == (
        "every route for fa→ar failed: a fa→ar: TimeoutError: t1; b fa→en, b en→ar: OSError: disk"
    )
    assert isinstance(err.__cause__, OSError)


async def test_no_route_message_is_readable() -> None:
    a = FakeEngine("a", [("fa", "en")])
    b = FakeEngine("b", [("en", "de")])
    r = router(a, b)
    with pytest.raises(NoRoute) as info:
        await r.translate(["x"], "fa", "ar")
    assert str(info.value) == "no engine translates fa→ar, directly or through en (engines: a, b)"
    with pytest.raises(NoRoute, match=r"^no engine translates en→ar \(engines: a, b\)$"):
        await r.translate(["x"], "en", "ar")
    with pytest.raises(NoRoute, match=r"\(engines: none\)"):
        await Router([]).translate([], "fa", "en")
    assert a.calls == [] and b.calls == []


async def test_never_pivots_when_the_pivot_is_an_end() -> None:
    a = FakeEngine("a", [("fa", "en"), ("en", "en"), ("en", "ar")])
    r = router(a)
    assert names(r.routes("fa", "en")) == [("a",)]
    assert names(r.routes("en", "ar")) == [("a",)]
    assert names(r.routes("fa", "ar")) == [("a", "a")]
    assert Router([a], pivot="fr").routes("fa", "ar") == []


async def test_empty_segments_are_never_sent() -> None:
    a = FakeEngine("a", [("fa", "en"), ("en", "ar")])
    out = await router(a).translate(["", "x", "  ", "y"], "fa", "ar")
    assert out.texts == ["", "a:ar(a:en(x))", "  ", "a:ar(a:en(y))"]
    assert [c[0] for c in a.calls] == [["x", "y"], ["a:en(x)", "a:en(y)"]]


async def test_all_empty_input_calls_no_engine() -> None:
    a = FakeEngine("a", [("fa", "en"), ("en", "ar")])
    for segments in ([], ["", " \n"]):
        out = await router(a).translate(segments, "fa", "ar")
        assert out.texts == segments
        assert out.legs == (
            Leg("a", "a-model", "1", "fa", "en"),
            Leg("a", "a-model", "1", "en", "ar"),
        )
    assert a.calls == []


async def test_wrong_output_count_is_an_error() -> None:
    short = FakeEngine("short", [("fa", "en")], short=True)
    other = FakeEngine("other", [("fa", "en")])
    with pytest.raises(ValueError, match=r"short returned 1 segments for 2 \(fa→en\)"):
        await router(short, other).translate(["x", "y"], "fa", "en")
    assert other.calls == []


def test_supports() -> None:
    r = router(FakeEngine("a", [("fa", "en")]), FakeEngine("b", [("en", "ar")]))
    assert r.supports("fa", "en") and r.supports("en", "ar") and r.supports("fa", "ar")
    assert not r.supports("ar", "fa") and not r.supports("fa", "de")
    assert not Router([]).supports("fa", "en")


def test_default_transient_policy() -> None:
    assert worth_another_engine(TimeoutError()) and worth_another_engine(ConnectionResetError())
    assert worth_another_engine(OSError()) and worth_another_engine(ServiceUnavailable())
    assert not worth_another_engine(ValueError()) and not worth_another_engine(KeyError())


async def test_custom_transient_policy() -> None:
    a = FakeEngine("a", [("fa", "en")], fail={("fa", "en"): KeyError("quota")})
    b = FakeEngine("b", [("fa", "en")])
    r = Router([a, b], worth_another_engine=lambda exc: isinstance(exc, KeyError))
    assert (await r.translate(["x"], "fa", "en")).engine == "b"


class EnglishOnlyPseudo(PseudoEngine):
    """Pseudo output, but only to and from English, so it can only serve as a pivot leg."""

    def supports(self, source: str, target: str) -> bool:
        return source != target and "en" in (source, target)


async def test_pseudo_engine_works_as_a_leg() -> None:
    out = await router(PseudoEngine()).translate(["سلام", ""], "fa", "ar")
    assert out.texts == ["[ar] سلام", ""] and out.engine == "pseudo" and out.pivot is None

    ct2 = FakeEngine("ctranslate2", [("fa", "en")])
    out = await router(ct2, EnglishOnlyPseudo()).translate(["سلام", ""], "fa", "ar")
    assert out.texts == ["[ar] ctranslate2:en(سلام)", ""]
    assert out.engine == "ctranslate2+pseudo" and out.pivot == "en"
    assert out.legs[1] == Leg("pseudo", "pseudo", "1", "en", "ar")


async def test_translate_non_blank_sends_only_text_and_keeps_places() -> None:
    from services.translate.segment import translate_non_blank

    sent: list[list[str]] = []

    async def upper(texts: list[str]) -> list[str]:
        sent.append(texts)
        return [t.upper() for t in texts]

    assert await translate_non_blank(["a", "", " ", "b"], upper) == ["A", "", " ", "B"]
    assert sent == [["a", "b"]]
    assert await translate_non_blank(["", "  "], upper) == ["", "  "] and len(sent) == 1
