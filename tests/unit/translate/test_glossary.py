"""Glossary terms: found as whole words, written into the source, checked in the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.translate.glossary import find_terms, missing_terms, prepare, write_in
from shared.glossary import Term, clean_terms, read_file

TERMS = clean_terms(
    [
        Term(source="مشهد", target="Mashhad"),
        Term(source="شهرداری مشهد", target="Mashhad Municipality"),
        Term(source="متروپلیس", target="Metropolis"),
        Term(source="حرم", target="the shrine", required=False),
    ],
    "fa",
)


def test_longest_term_wins_and_whole_words_only() -> None:
    text = "شهرداری مشهد و مردم مشهد؛ غذای مشهدی"
    assert [t.target for t in find_terms(text, TERMS)] == ["Mashhad Municipality", "Mashhad"]
    assert write_in(text, find_terms(text, TERMS)) == (
        "Mashhad Municipality و مردم Mashhad؛ غذای مشهدی"
    )


def test_zwnj_suffix_is_a_word_boundary() -> None:
    assert [t.target for t in find_terms("متروپلیس\u200cها", TERMS)] == ["Metropolis"]


def test_source_terms_are_normalised_like_ingested_text() -> None:
    arabic_spelling = clean_terms([Term(source="شهرداري مشهد", target="X")], "fa")
    assert arabic_spelling[0].source == "شهرداری مشهد"


def test_inline_mode_rewrites_verify_mode_does_not() -> None:
    inline = prepare("خبر از مشهد", TERMS, "inline")
    assert inline.text == "خبر از Mashhad"
    assert [t.target for t in inline.terms] == ["Mashhad"]
    verify = prepare("خبر از مشهد", TERMS, "verify")
    assert verify.text == "خبر از مشهد"
    assert verify.terms == inline.terms


def test_missing_required_terms_are_reported_optional_ones_not() -> None:
    terms = find_terms("شهرداری مشهد در حرم", TERMS)
    assert missing_terms("mashhad  municipality near the shrine", terms) == []
    assert [t.target for t in missing_terms("The city hall, near a mosque", terms)] == [
        "Mashhad Municipality"
    ]


def test_inflected_russian_target_counts_as_present() -> None:
    ru = [Term(source="مشهد", target="Мешхед")]
    assert missing_terms("Мэрия Мешхеда сообщила", ru) == []


def test_file_lists_each_term_once_with_all_its_translations(tmp_path: Path) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text(
        "mashhad:\n"
        "  - {fa: مشهد, en: Mashhad, ar: مشهد, ru: Мешхед}\n"
        "  - {fa: متروپلیس, en: Metropolis, required: false}\n",
        encoding="utf-8",
    )
    terms = read_file(path, {"mashhad": "fa"})
    assert set(terms) == {("mashhad", "en"), ("mashhad", "ar"), ("mashhad", "ru")}
    assert [(t.target, t.required) for t in terms[("mashhad", "en")]] == [
        ("Mashhad", True),
        ("Metropolis", False),
    ]
    with pytest.raises(ValueError, match="unknown publisher"):
        read_file(path, {"tehran": "fa"})
