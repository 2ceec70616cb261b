from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.registry import RegistryFile, read_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_sample_registry_loads() -> None:
    publishers, networks = read_file(FIXTURES / "registry.yaml")
    assert {p.id for p in publishers} == {"mashhad", "tehran", "gorgan"}
    mashhad = next(p for p in publishers if p.id == "mashhad")
    assert mashhad.feed_languages == ["fa", "en", "ar", "ru"]
    assert networks[0].members == ["mashhad", "tehran", "gorgan"]


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
