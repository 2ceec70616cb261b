"""Split an article into translatable segments and put a translation back together (pure)."""

from __future__ import annotations

import html


def article_segments(headline: str, body_text: str) -> list[str]:
    """Headline first, then one segment per paragraph."""
    return [headline, *(p for p in body_text.split("\n\n") if p.strip())]


def assemble(translated: list[str]) -> tuple[str, str]:
    """(headline, body_html) from translated segments in :func:`article_segments` order."""
    headline, *paras = translated
    return headline, "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paras)
