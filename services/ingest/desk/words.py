"""The desk's words for the values it shows: states, checks, forms, policies and language names,
in the interface language (``{{ state.status | state_word }}``, ``{{ lang | language_label }}``).

The values stay English where programs read them (the ``status-<word>`` CSS class, ``data-*``
attributes, the API); only what a person reads is translated. Each table's messages are marked
with ``N_`` for the catalogues and translated when a page is rendered; a value no table knows (a
check added to translate later, a rare language) is shown as it is, never dropped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from babel.lists import format_list
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from shared import display
from shared.i18n import N_, ui_in

#: The state of an article or of one of its translations (``desk_macros.badge``), and what an
#: editor did about a queued translation (``QueuedTranslation.step``).
STATES = {
    "source": N_("original"),
    "pending": N_("pending"),
    "updating": N_("updating"),
    "published": N_("published"),
    "held": N_("held"),
    "flagged": N_("flagged"),
    "withdrawn": N_("withdrawn"),
    "queued": N_("queued"),
    "embargoed": N_("embargoed"),
    "active": N_("active"),
    "approved": N_("approved"),
    "edited": N_("edited"),
    "sent back": N_("sent back"),
}
#: The automatic checks of a machine translation (``services/translate/checks.py``).
CHECKS = {
    "numbers": N_("numbers"),
    "glossary": N_("glossary"),
    "script": N_("script"),
    "copy": N_("copy of the source"),
    "length": N_("length"),
    "repetition": N_("repetition"),
    "empty": N_("empty"),
    "markup": N_("markup"),
    "error": N_("error"),
}
#: What a submission was sent as (``input_form`` of an extracted article).
INPUT_FORMS = {
    "page": N_("a page (its text or HTML)"),
    "article": N_("a clean article (JSON)"),
    "ninjs": N_("a ninjs item (JSON)"),
}
#: A publisher's translation policy (``TranslationPolicy``).
POLICIES = {
    "publish": N_("publish"),
    "hold": N_("hold"),
    "review": N_("review"),
}
#: The names of the languages the desk shows most, in the interface language; the others fall
#: back to their English name (:func:`shared.display.language_name`).
LANGUAGES = {
    "fa": N_("Persian"),
    "en": N_("English"),
    "ar": N_("Arabic"),
    "ru": N_("Russian"),
    "tr": N_("Turkish"),
    "zh": N_("Chinese"),
    "de": N_("German"),
    "fr": N_("French"),
    "es": N_("Spanish"),
    "it": N_("Italian"),
    "ur": N_("Urdu"),
    "hy": N_("Armenian"),
    "az": N_("Azerbaijani"),
    "ka": N_("Georgian"),
    "tg": N_("Tajik"),
    "kk": N_("Kazakh"),
    "uz": N_("Uzbek"),
    "prs": N_("Dari"),
    "ps": N_("Pashto"),
}


def _word(context: Context, table: Mapping[str, str], value: object) -> str:
    """``value``'s word in the interface language, else ``value`` as it is."""
    key = str(value or "")
    return ui_in(context).gettext(table[key]) if key in table else key


@pass_context
def state_word(context: Context, value: object) -> str:
    return _word(context, STATES, value)


@pass_context
def check_name(context: Context, value: object) -> str:
    return _word(context, CHECKS, value)


@pass_context
def input_form(context: Context, value: object) -> str:
    return _word(context, INPUT_FORMS, value)


@pass_context
def policy_name(context: Context, value: object) -> str:
    return _word(context, POLICIES, value)


@pass_context
def language_label(context: Context, value: str | None) -> str:
    """A language's name in the interface language (``fa`` is «فارسی» in Persian, "Persian" in
    English); its English name when the table has none."""
    if not value:
        return ""
    found = LANGUAGES.get(value) or LANGUAGES.get(display.primary(value))
    return ui_in(context).gettext(found) if found else display.language_name(value)


@pass_context
def ui_list(context: Context, items: Iterable[object]) -> str:
    """Items as a list is written in the interface language ("a, b and c", «a، b و c»)."""
    return format_list([str(i) for i in items], locale=ui_in(context).language)


def install(env: Environment) -> None:
    """The filters on the desk's templates."""
    env.filters.update(
        state_word=state_word,
        check_name=check_name,
        input_form=input_form,
        policy_name=policy_name,
        language_label=language_label,
        ui_list=ui_list,
    )
