"""The interface's gettext catalogues: extract the messages of a domain (the desk's, the
portal's, the shared layout's) with Babel, bring each language's catalogue up to date, and check
that nothing is missing, untranslated, fuzzy, stale or left unmarked in a template.

    python -m tools.i18n update   # after changing a template or a marked string
    python -m tools.i18n check    # what tests/unit/shared/test_i18n_catalogues.py asserts

A domain's catalogues are ``<package>/locales/<lang>/LC_MESSAGES/messages.po``; English is the
messages' own language (its catalogue lists them and overrides none). Templates are read with
Jinja2's Babel extractor (``{% trans %}``, ``_()``); Python with the gettext keywords and
``N_`` (:func:`shared.i18n.N_`: marked where defined, translated where shown).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment

from shared.i18n import UI_LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
SOURCE_LANGUAGE = "en"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}


@dataclass(frozen=True)
class Domain:
    """One package's messages: its templates and Python, its catalogues."""

    name: str
    package: Path

    @property
    def locales(self) -> Path:
        return self.package / "locales"

    @property
    def templates(self) -> Path:
        return self.package / "templates"

    def po(self, language: str) -> Path:
        return self.locales / language / "LC_MESSAGES" / "messages.po"


DOMAINS = (
    Domain("shared", ROOT / "shared"),
    Domain("ingest", ROOT / "services" / "ingest"),
    Domain("feeds", ROOT / "services" / "feeds"),
)


def extract(domain: Domain) -> Catalog:
    """The messages the domain's templates and Python mark, with where each is used."""
    catalog = Catalog(project="city-syndication", domain="messages")
    found = extract_from_dir(
        str(domain.package), METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    )
    for filename, line, message, comments, context in found:
        catalog.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return catalog


HEADER = """\
# Interface messages of the {domain} pages in {language} (city-syndication).
# How each catalogue was made and is kept: docs/i18n.md. Update with python -m tools.i18n update."""


def read(domain: Domain, language: str) -> Catalog | None:
    path = domain.po(language)
    if not path.is_file():
        return None
    with path.open("rb") as source:
        return read_po(source, locale=language)


def update(domain: Domain) -> None:
    """Each language's catalogue with exactly the extracted messages: new ones added empty (to
    be translated), gone ones dropped, translations kept."""
    template = extract(domain)
    for language in UI_LANGUAGES:
        catalog = read(domain, language) or Catalog(
            locale=language,
            domain="messages",
            header_comment=HEADER.format(language=language, domain=domain.name),
        )
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False  # the header: a fuzzy one would be left out, plural rules and all
        catalog.project, catalog.version = "city-syndication", "1"
        catalog.last_translator = catalog.language_team = "city-syndication team"
        domain.po(language).parent.mkdir(parents=True, exist_ok=True)
        with domain.po(language).open("wb") as out:
            write_po(out, catalog, width=100, omit_header=False, include_previous=False)


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _key(message: Message) -> str:
    return str(message.id[0] if isinstance(message.id, tuple) else message.id)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(strings)


def problems(domain: Domain) -> Iterator[str]:
    """What is wrong with the domain's catalogues and templates, one line each."""
    template = extract(domain)
    wanted = {_key(m) for m in template if m.id}
    for language in UI_LANGUAGES:
        where = _shown(domain.po(language))
        catalog = read(domain, language)
        if catalog is None:
            yield f"{where}: no catalogue"
            continue
        if catalog.fuzzy:
            yield f"{where}: the header is fuzzy (its plural rules would be left out)"
        have = {_key(m): m for m in catalog if m.id}
        for missing in sorted(wanted - have.keys()):
            yield f"{where}: lacks {missing!r}"
        for stale in sorted(have.keys() - wanted):
            yield f"{where}: {stale!r} is no longer used"
        for key in sorted(wanted & have.keys()):
            message = have[key]
            if message.fuzzy:
                yield f"{where}: {key!r} is fuzzy"
            elif language != SOURCE_LANGUAGE and not _translated(message):
                yield f"{where}: {key!r} is not translated"
        for message, errors in catalog.check():
            for error in errors:
                yield f"{where}: {_key(message)!r}: {error}"
    for path in sorted(domain.templates.glob("*.html")):
        for text in unmarked(path.read_text(encoding="utf-8"), path.name):
            yield f"{_shown(path)}: not marked for translation: {text!r}"


#: Attributes a person reads or hears (a screen reader speaks ``aria-label``).
SPOKEN = frozenset({"title", "aria-label", "alt", "placeholder", "aria-description", "label"})
#: Elements whose text is code, not language.
CODE = frozenset({"code", "kbd", "samp", "script", "style"})
_LETTER = re.compile(r"[^\W\d_]")
_GETTEXT = frozenset({"_", "gettext", "ngettext", "pgettext", "npgettext"})


class _Text(HTMLParser):
    """The words of an HTML fragment a person reads: text outside code, spoken attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE:
            self.code += 1
        self.words.extend(v for k, v in attrs if k in SPOKEN and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE and self.code:
            self.code -= 1

    def handle_data(self, data: str) -> None:
        if not self.code:
            self.words.append(data)


def unmarked(source: str, name: str) -> list[str]:
    """Words of a template that would reach a page untranslated: text and spoken attributes
    outside ``{% trans %}`` and ``_()``, and string literals a ``{{ }}`` prints."""
    env = Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    html: list[str] = []
    found: list[str] = []
    in_trans = in_print = False
    previous = ""  # the token before: a name's value, else its kind ("gettext" for a call's)
    parens: list[bool] = []  # open parentheses, each: whether it opens a gettext call
    for _line, kind, value in env.lexer.tokeniter(source, name):
        if kind == "data":
            html.append("\x00" if in_trans else value)
            continue
        if kind == "whitespace" or kind.startswith("comment"):
            continue
        if kind in ("variable_begin", "block_begin"):
            html.append("\x00")
        if kind == "name" and previous == "block_begin" and value in ("trans", "endtrans"):
            in_trans = value == "trans"
        in_print = kind == "variable_begin" or (in_print and kind != "variable_end")
        if kind == "operator" and value == "(":
            parens.append(previous == "gettext")
        elif kind == "operator" and value == ")" and parens:
            parens.pop()
        elif kind == "string" and not any(parens) and _LETTER.search(value):
            printed = in_print and previous in ("variable_begin", "else")
            if printed or " " in value.strip():
                found.append(value)
        previous = ("gettext" if value in _GETTEXT else value) if kind == "name" else kind
    parser = _Text()
    parser.feed("".join(html))
    parser.close()
    words = (w.replace("\x00", "…").strip() for w in parser.words)
    found.extend(w for w in words if _LETTER.search(w))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.i18n", description=__doc__)
    parser.add_argument("action", choices=("update", "check"))
    parser.add_argument("--domain", choices=[d.name for d in DOMAINS], action="append")
    args = parser.parse_args(argv)
    chosen = [d for d in DOMAINS if not args.domain or d.name in args.domain]
    if args.action == "update":
        for domain in chosen:
            update(domain)
        return 0
    found = [line for domain in chosen for line in problems(domain)]
    print("\n".join(found) or "every message marked and translated")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
