"""The interface's catalogues are complete and every page text is marked for translation
(tools/i18n.py, with Babel's extraction), and the check finds what it is there to find."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import i18n


@pytest.mark.parametrize("domain", i18n.DOMAINS, ids=lambda d: d.name)
def test_every_page_text_is_marked_and_translated(domain: i18n.Domain) -> None:
    found = list(i18n.problems(domain))
    assert not found, "python -m tools.i18n update, then translate:\n" + "\n".join(found)


PAGE = """{% extends "layout.html" %}
{% block main %}
<h1>{% trans %}Hello{% endtrans %}</h1>
<p>Goodbye <code>cfk_</code> <a href="/x" title="More about it">{{ _("More") }}</a></p>
<p>{{ "entry" if n == 1 else "entries" }} {{ name | default("no name given") }}</p>
{% endblock %}
"""


def test_the_check_finds_unmarked_text_and_a_missing_or_untranslated_message(
    tmp_path: Path,
) -> None:
    domain = i18n.Domain("sample", tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text(PAGE, encoding="utf-8")
    i18n.update(domain)
    found = "\n".join(i18n.problems(domain))
    for unmarked in ("'Goodbye'", "'More about it'", "'\"entry\"'", "'\"no name given\"'"):
        assert f"not marked for translation: {unmarked}" in found
    assert "cfk_" not in found  # code is not language
    assert "fa/LC_MESSAGES/messages.po: 'Hello' is not translated" in found
    assert "en/LC_MESSAGES/messages.po: 'Hello'" not in found  # English: the source itself

    (tmp_path / "templates" / "page.html").write_text(
        PAGE.replace("Hello", "Hello again"), encoding="utf-8"
    )
    found = "\n".join(i18n.problems(domain))
    assert "ru/LC_MESSAGES/messages.po: lacks 'Hello again'" in found
    assert "ru/LC_MESSAGES/messages.po: 'Hello' is no longer used" in found
