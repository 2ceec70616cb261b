"""The desk's words for the values it shows: states, forms and policies, in the interface
language (``{{ state.status | state_word }}``); checks and languages are named by
:mod:`shared.i18n` (``check_name``, ``ui_language``), as the portal names them.

The values stay English where programs read them (the ``status-<word>`` CSS class, ``data-*``
attributes, the API); only what a person reads is translated. Each table's messages are marked
with ``N_`` for the catalogues and translated when a page is rendered; a value no table knows (a
check added to translate later, a rare language) is shown as it is, never dropped."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

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


def _word(context: Context, table: Mapping[str, str], value: object) -> str:
    """``value``'s word in the interface language, else ``value`` as it is."""
    key = str(value or "")
    return ui_in(context).gettext(table[key]) if key in table else key


@pass_context
def state_word(context: Context, value: object) -> str:
    return _word(context, STATES, value)


@pass_context
def input_form(context: Context, value: object) -> str:
    return _word(context, INPUT_FORMS, value)


@pass_context
def policy_name(context: Context, value: object) -> str:
    return _word(context, POLICIES, value)


def install(env: Environment) -> None:
    """The filters on the desk's templates."""
    env.filters.update(
        state_word=state_word,
        input_form=input_form,
        policy_name=policy_name,
    )
