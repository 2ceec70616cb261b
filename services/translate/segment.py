"""Split an article into translatable segments and put a translation back together (pure)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Sequence


def article_segments(headline: str, body_text: str) -> list[str]:
    """Headline first, then one segment per paragraph."""
    return [headline, *(p for p in body_text.split("\n\n") if p.strip())]


def assemble(translated: list[str]) -> tuple[str, str]:
    """(headline, body_html) from translated segments in :func:`article_segments` order."""
    headline, *paras = translated
    return headline, "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paras)


async def translate_non_blank(
    segments: Sequence[str], translate: Callable[[list[str]], Awaitable[list[str]]]
) -> list[str]:
    """Send only segments with text to ``translate``; blank ones (paragraph breaks, spacing)
    come back unchanged, and every result goes back to its segment's place."""
    wanted = [i for i, s in enumerate(segments) if s.strip()]
    out = list(segments)
    if not wanted:
        return out
    texts = await translate([segments[i] for i in wanted])
    for i, text in zip(wanted, texts, strict=True):
        out[i] = text
    return out
