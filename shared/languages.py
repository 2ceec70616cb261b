"""The one table of the languages the platform knows: names, scripts, direction.

Feeds, pages, engines and checks all ask it, so adding a language is one row here. A tag with a
region or script subtag (``fa-IR``, ``zh-Hant``) is looked up by its primary subtag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Unicode script names, as the translation checks count letters by them (``Kana``: Hiragana and
#: Katakana together).
Script = Literal[
    "Latin", "Arabic", "Cyrillic", "Greek", "Hebrew", "Han", "Kana", "Hangul", "Devanagari",
    "Thai", "Armenian", "Georgian", "Thaana",
]  # fmt: skip


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 (or 639-3 where there is none), as tags use it
    name: str  # in English
    native: str  # in itself
    scripts: tuple[Script, ...]  # what its text is written in (Japanese and Korean: two)
    rtl: bool = False


_LATIN: tuple[Script, ...] = ("Latin",)
_ARABIC: tuple[Script, ...] = ("Arabic",)
_CYRILLIC: tuple[Script, ...] = ("Cyrillic",)

LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("fa", "Persian", "فارسی", _ARABIC, rtl=True),
        Language("en", "English", "English", _LATIN),
        Language("ar", "Arabic", "العربية", _ARABIC, rtl=True),
        Language("ru", "Russian", "Русский", _CYRILLIC),
        Language("tr", "Turkish", "Türkçe", _LATIN),
        Language("zh", "Chinese", "中文", ("Han",)),
        Language("de", "German", "Deutsch", _LATIN),
        Language("fr", "French", "Français", _LATIN),
        Language("es", "Spanish", "Español", _LATIN),
        Language("it", "Italian", "Italiano", _LATIN),
        Language("pt", "Portuguese", "Português", _LATIN),
        Language("ja", "Japanese", "日本語", ("Han", "Kana")),
        Language("ko", "Korean", "한국어", ("Hangul", "Han")),
        Language("ur", "Urdu", "اردو", _ARABIC, rtl=True),
        Language("hi", "Hindi", "हिन्दी", ("Devanagari",)),
        Language("ps", "Pashto", "پښتو", _ARABIC, rtl=True),
        Language("prs", "Dari", "دری", _ARABIC, rtl=True),
        Language("ckb", "Central Kurdish", "کوردی", _ARABIC, rtl=True),
        Language("sd", "Sindhi", "سنڌي", _ARABIC, rtl=True),
        Language("ug", "Uyghur", "ئۇيغۇرچە", _ARABIC, rtl=True),
        Language("yi", "Yiddish", "ייִדיש", ("Hebrew",), rtl=True),
        Language("he", "Hebrew", "עברית", ("Hebrew",), rtl=True),
        Language("dv", "Dhivehi", "ދިވެހި", ("Thaana",), rtl=True),
        Language("az", "Azerbaijani", "Azərbaycanca", _LATIN),
        Language("hy", "Armenian", "Հայերեն", ("Armenian",)),
        Language("ka", "Georgian", "ქართული", ("Georgian",)),
        Language("tg", "Tajik", "Тоҷикӣ", _CYRILLIC),
        Language("uz", "Uzbek", "Oʻzbekcha", _LATIN),
        Language("kk", "Kazakh", "Қазақша", _CYRILLIC),
        Language("ky", "Kyrgyz", "Кыргызча", _CYRILLIC),
        Language("tt", "Tatar", "Татарча", _CYRILLIC),
        Language("ba", "Bashkir", "Башҡортса", _CYRILLIC),
        Language("mn", "Mongolian", "Монгол", _CYRILLIC),
        Language("uk", "Ukrainian", "Українська", _CYRILLIC),
        Language("be", "Belarusian", "Беларуская", _CYRILLIC),
        Language("bg", "Bulgarian", "Български", _CYRILLIC),
        Language("sr", "Serbian", "Српски", _CYRILLIC),
        Language("mk", "Macedonian", "Македонски", _CYRILLIC),
        Language("el", "Greek", "Ελληνικά", ("Greek",)),
        Language("mr", "Marathi", "मराठी", ("Devanagari",)),
        Language("ne", "Nepali", "नेपाली", ("Devanagari",)),
        Language("th", "Thai", "ไทย", ("Thai",)),
        Language("id", "Indonesian", "Bahasa Indonesia", _LATIN),
        Language("ms", "Malay", "Bahasa Melayu", _LATIN),
        Language("vi", "Vietnamese", "Tiếng Việt", _LATIN),
        Language("tl", "Tagalog", "Tagalog", _LATIN),
        Language("nl", "Dutch", "Nederlands", _LATIN),
        Language("pl", "Polish", "Polski", _LATIN),
        Language("cs", "Czech", "Čeština", _LATIN),
        Language("sk", "Slovak", "Slovenčina", _LATIN),
        Language("sl", "Slovenian", "Slovenščina", _LATIN),
        Language("hr", "Croatian", "Hrvatski", _LATIN),
        Language("bs", "Bosnian", "Bosanski", _LATIN),
        Language("sq", "Albanian", "Shqip", _LATIN),
        Language("ro", "Romanian", "Română", _LATIN),
        Language("hu", "Hungarian", "Magyar", _LATIN),
        Language("sv", "Swedish", "Svenska", _LATIN),
        Language("da", "Danish", "Dansk", _LATIN),
        Language("no", "Norwegian", "Norsk", _LATIN),
        Language("nb", "Norwegian Bokmål", "Norsk bokmål", _LATIN),
        Language("nn", "Norwegian Nynorsk", "Norsk nynorsk", _LATIN),
        Language("is", "Icelandic", "Íslenska", _LATIN),
        Language("fi", "Finnish", "Suomi", _LATIN),
        Language("et", "Estonian", "Eesti", _LATIN),
        Language("lv", "Latvian", "Latviešu", _LATIN),
        Language("lt", "Lithuanian", "Lietuvių", _LATIN),
        Language("ca", "Catalan", "Català", _LATIN),
        Language("gl", "Galician", "Galego", _LATIN),
        Language("eu", "Basque", "Euskara", _LATIN),
        Language("ga", "Irish", "Gaeilge", _LATIN),
        Language("cy", "Welsh", "Cymraeg", _LATIN),
        Language("mt", "Maltese", "Malti", _LATIN),
        Language("af", "Afrikaans", "Afrikaans", _LATIN),
        Language("sw", "Swahili", "Kiswahili", _LATIN),
        Language("ha", "Hausa", "Hausa", _LATIN),
        Language("so", "Somali", "Soomaali", _LATIN),
        Language("yo", "Yoruba", "Yorùbá", _LATIN),
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
