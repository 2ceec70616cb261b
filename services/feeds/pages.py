"""The feeds service's HTML pages (the directory, the partner portal): Jinja2 templates from
``services/feeds/templates`` and the shared layout (``shared/templates``), escaped by default,
with the display filters of :mod:`shared.display` (direction, language names, Jalali dates)."""

from __future__ import annotations

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from shared import display

#: Where the pages' style sheet is served (services/feeds/portal.py).
ASSETS = "/assets"
SITE_NAME = "City news feeds"


def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader("services.feeds", "templates"), FileSystemLoader(display.TEMPLATES)]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(display.FILTERS)
    return env


ENV = environment()
