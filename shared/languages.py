"""The one table of the languages the platform knows: names, script, direction.

Feeds, pages, engines and checks all ask it, so adding a language is one row here. A tag with a
region or script subtag (``fa-IR``, ``zh-Hant``) is looked up by its primary subtag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Script = Literal["Arab", "Latn", "Cyrl", "Hans", "Deva", "Hebr", "Armn", "Geor", "Thaa"]


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 (or 639-3 where there is none), as tags use it
    name: str  # in English
    native: str  # in itself
    script: Script
    rtl: bool


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("fa", "Persian", "فارسی", "Arab", True),
        Language("en", "English", "English", "Latn", False),
        Language("ar", "Arabic", "العربية", "Arab", True),
        Language("ru", "Russian", "Русский", "Cyrl", False),
        Language("tr", "Turkish", "Türkçe", "Latn", False),
        Language("zh", "Chinese", "中文", "Hans", False),
        Language("de", "German", "Deutsch", "Latn", False),
        Language("fr", "French", "Français", "Latn", False),
        Language("es", "Spanish", "Español", "Latn", False),
        Language("it", "Italian", "Italiano", "Latn", False),
        Language("ur", "Urdu", "اردو", "Arab", True),
        Language("hi", "Hindi", "हिन्दी", "Deva", False),
        Language("ps", "Pashto", "پښتو", "Arab", True),
        Language("ckb", "Central Kurdish", "کوردی", "Arab", True),
        Language("yi", "Yiddish", "ייִדיש", "Hebr", True),
        Language("dv", "Dhivehi", "ދިވެހި", "Thaa", True),
        Language("he", "Hebrew", "עברית", "Hebr", True),
        Language("az", "Azerbaijani", "Azərbaycanca", "Latn", False),
        Language("hy", "Armenian", "Հայերեն", "Armn", False),
        Language("ka", "Georgian", "ქართული", "Geor", False),
    )
}


def primary(tag: str | None) -> str:
    """The primary language subtag, lower case: ``fa-IR`` → ``fa``."""
    return (tag or "").split("-")[0].split("_")[0].lower()


def language(tag: str | None) -> Language | None:
    return LANGUAGES.get(primary(tag))


def is_rtl(tag: str | None) -> bool:
    found = language(tag)
    return found is not None and found.rtl


def name_of(tag: str | None, *, native: bool = False) -> str:
    """The language's name (English, or its own), else the tag itself."""
    found = language(tag)
    if found is None:
        return tag or ""
    return found.native if native else found.name
