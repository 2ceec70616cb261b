"""What ``make run`` serves: the installed model (or models, per pair) for the pairs the registry
needs, and the words that tell the operator what was chosen and what stays pending.

The model that verifies and covers the most wanted pairs (directly or through English) is chosen,
a multilingual one before single-pair Marian ones. Once models are scored (``evaluate``,
docs/evaluation.md), each pair goes to the model with the best chrF++ for it, and pairs served by
another model than the main one are listed in ``TRANSLATE_MODEL_DIRS``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.translate.catalogue import DEFAULT_MODEL
from services.translate.ct2 import MANIFEST_NAME, ModelManifest, verify
from services.translate.model_files import CliError
from services.translate.model_scores import PairScore, best_per_pair, load_current, rank_of
from services.translate.model_store import installed, languages_of

Pair = tuple[str, str]
PIVOT = "en"
# Among models covering the same pairs: multilingual first (one model, every pair direct), and
# M2M100 (MIT) before NLLB (CC-BY-NC, non-commercial), which is better but must be chosen knowingly.
FAMILY_PREFERENCE = {"m2m100": 0, "nllb": 1, "marian": 2}


def registry_pairs(path: Path, publishers: Sequence[str] = ()) -> list[Pair]:
    """(source, target) pairs the publishers of a registry file need (all of them when none are
    named): their own ``translate_to`` and the languages of every network and partner that
    receives them."""
    from shared.registry import read_registry, target_languages_of

    try:
        contents = read_registry(path)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read the registry {path}: {e}") from None
    pubs, nets, partners = contents.publishers, contents.networks, contents.partners
    by_id = {p.id: p for p in pubs}
    unknown = [name for name in publishers if name not in by_id]
    if unknown:
        raise CliError(f"{path} has no publisher {', '.join(map(repr, unknown))}")
    pairs: dict[Pair, None] = {}
    for pub in [by_id[name] for name in publishers] if publishers else pubs:
        for target in target_languages_of(pub, nets, partners):
            pairs.setdefault((pub.language, target), None)
    return list(pairs)


def _arrow(pairs: Sequence[Pair]) -> str:
    return ", ".join(f"{src}→{tgt}" for src, tgt in pairs)


def _licence_note(licence: str) -> str:
    """Said in words wherever a model is chosen: a non-commercial licence binds the city."""
    return ": NON-COMMERCIAL use only" if "-NC" in licence.upper() else ""


@dataclass(frozen=True)
class Candidate:
    """An installed model that verifies, and which of the wanted pairs it can serve."""

    directory: Path
    manifest: ModelManifest
    direct: tuple[Pair, ...]
    pivoted: tuple[Pair, ...]
    """Served in two steps through English (source→en, en→target) by the same model."""
    scores: dict[Pair, PairScore] = field(default_factory=dict)
    """What ``model_cli evaluate`` measured on these weights, the score that stands per pair."""

    @classmethod
    def of(cls, directory: Path, manifest: ModelManifest, wanted: Sequence[Pair]) -> Candidate:
        direct = tuple(p for p in wanted if manifest.supports(*p))
        pivoted = tuple(
            (src, tgt)
            for src, tgt in wanted
            if (src, tgt) not in direct
            and PIVOT not in (src, tgt)
            and manifest.supports(src, PIVOT)
            and manifest.supports(PIVOT, tgt)
        )
        scores = best_per_pair(load_current(directory, manifest))
        return cls(directory, manifest, direct, pivoted, scores)

    def score_rank(self, pair: Pair) -> tuple[int, float]:
        """Smaller is better: chrF++ on the whole municipal set, then on any set, then none."""
        return rank_of(self.scores, pair)

    @property
    def covered(self) -> int:
        return len(self.direct) + len(self.pivoted)

    def rank(self) -> tuple[int, int, int, str]:
        """Smaller is better: most pairs, most of them direct, family preference, name."""
        family = FAMILY_PREFERENCE.get(self.manifest.family, len(FAMILY_PREFERENCE))
        return (-self.covered, -len(self.direct), family, self.directory.name)


@dataclass
class Pick:
    """What translate is started with, and why, in words an operator can act on."""

    models: Path
    wanted: list[Pair]
    explicit: str | None = None
    """``TRANSLATE_ENGINE`` as the operator set it: it wins, nothing is picked."""
    chosen: Candidate | None = None
    per_pair: dict[Pair, Candidate] = field(default_factory=dict)
    """Pairs another model serves better than ``chosen`` (higher measured chrF++, or directly
    where ``chosen`` cannot), each from its own model (``TRANSLATE_MODEL_DIRS``)."""
    unused: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(model, first problem) of models that do not verify."""

    @property
    def pending(self) -> list[Pair]:
        if self.explicit is not None:
            return []
        served = set() if self.chosen is None else {*self.chosen.direct, *self.chosen.pivoted}
        return [p for p in self.wanted if p not in served and p not in self.per_pair]

    def env(self) -> dict[str, str]:
        """The ``TRANSLATE_*`` settings to start translate with (none when nothing is picked)."""
        if self.chosen is None:
            return {}
        env = {
            "TRANSLATE_ENGINE": "ctranslate2",
            "TRANSLATE_MODEL_DIR": str(self.chosen.directory.resolve()),
        }
        if self.per_pair:
            env["TRANSLATE_MODEL_DIRS"] = ",".join(
                f"{src}-{tgt}={c.directory.resolve()}" for (src, tgt), c in self.per_pair.items()
            )
        return env

    def as_json(self) -> dict[str, Any]:
        chosen = self.chosen
        engine = self.explicit if self.explicit is not None else self.env().get("TRANSLATE_ENGINE")
        return {
            "engine": engine,
            "explicit": self.explicit is not None,
            "env": self.env(),
            "models_dir": str(self.models),
            "model": None
            if chosen is None
            else {
                "name": chosen.manifest.name,
                "directory": str(chosen.directory.resolve()),
                "family": chosen.manifest.family,
                "version": chosen.manifest.version,
                "licence": chosen.manifest.licence,
                "languages": chosen.manifest.language_codes(),
                "pairs": None
                if isinstance(chosen.manifest.languages, list)
                else [list(p) for p in chosen.manifest.languages.pairs],
                "scores": _scores_json(chosen),
            },
            "per_pair": [
                {
                    "pair": list(pair),
                    "name": c.manifest.name,
                    "directory": str(c.directory.resolve()),
                    "licence": c.manifest.licence,
                    "scores": _scores_json(c),
                }
                for pair, c in self.per_pair.items()
            ],
            "wanted": [list(p) for p in self.wanted],
            "direct": [] if chosen is None else [list(p) for p in chosen.direct],
            "pivoted": [] if chosen is None else [list(p) for p in chosen.pivoted],
            "pending": [list(p) for p in self.pending],
            "unused": [c.directory.name for c in self.unused],
            "skipped": [{"name": name, "problem": problem} for name, problem in self.skipped],
        }

    def served_by(self, candidate: Candidate) -> list[Pair]:
        """The wanted pairs ``candidate`` translates directly in this choice."""
        if candidate is self.chosen:
            return [p for p in candidate.direct if p not in self.per_pair]
        return [p for p, c in self.per_pair.items() if c is candidate]

    def _scores_lines(self) -> list[str]:
        """The measured chrF++ behind the choice, and the other models that serve a pair."""
        lines: list[str] = []
        if self.chosen is not None and self.chosen.scores:
            lines.append(f"  measured: {_scored(self.chosen, self.served_by(self.chosen))}")
        for other in _distinct(self.per_pair.values()):
            m, pairs = other.manifest, self.served_by(other)
            lines += [
                f"  and {m.name} ({m.family}, licence {m.licence}{_licence_note(m.licence)})",
                f"    from {other.directory.resolve()}",
                f"    translates {_arrow(pairs)}"
                + (f", measured: {_scored(other, pairs)}" if other.scores else ""),
            ]
        return lines

    def message(self, python: str = "python") -> str:
        cli = f"{python} -m services.translate.model_cli"
        if self.explicit is not None:
            return (
                f"Translations: TRANSLATE_ENGINE={self.explicit} as set; installed models are not "
                "consulted."
            )
        lines: list[str] = []
        chosen = self.chosen
        if chosen is not None:
            m = chosen.manifest
            lines += [
                f"Translations: ctranslate2 with the installed model {m.name}",
                f"  {m.family}, version {m.version}, languages {languages_of(m)}",
                f"  licence {m.licence}{_licence_note(m.licence)}",
                f"  from {chosen.directory.resolve()}",
                f"  translates {_arrow(self.served_by(chosen)) or 'none of the pairs directly'}",
            ]
            pivoted = [p for p in chosen.pivoted if p not in self.per_pair]
            if pivoted:
                lines.append(f"  through English: {_arrow(pivoted)}")
            lines += self._scores_lines()
            if self.pending:
                lines += [
                    f"  still PENDING: {_arrow(self.pending)}: the model does not cover them. One",
                    "  multilingual model covers every pair: M2M100-418M (MIT), see the README.",
                ]
            for other in self.unused:
                lines.append(f"  also installed, not used: {other.directory.name}")
        else:
            sources = ", ".join(dict.fromkeys(src for src, _ in self.wanted))
            targets = ", ".join(dict.fromkeys(tgt for _, tgt in self.wanted))
            lines += [
                "Translations: PENDING. No TRANSLATE_ENGINE is set and no verified model in",
                f"  {self.models} covers {_arrow(self.wanted)},",
                f"  so the {targets} feeds stay empty while the {sources} feeds fill.",
                "  To translate, install a model once, then 'make stop; make run' serves it:",
                f"    {cli} fetch {DEFAULT_MODEL}",
                "      M2M100-418M from the Hugging Face hub: every pair, MIT licence",
                f"    {cli} catalogue",
                "      the other models (NLLB-200 is non-commercial), licences and scores",
                f"    {cli} install DIR",
                f"      a model converted elsewhere, with its {MANIFEST_NAME}",
                f"    {cli} list",
                "  'TRANSLATE_ENGINE=pseudo make run' shows the pipeline with the deterministic",
                "  test engine (tags text, does not translate).",
            ]
            for other in self.unused:
                lines.append(
                    f"  installed, but covers none of these pairs: {other.directory.name} "
                    f"({languages_of(other.manifest)})"
                )
        for name, problem in self.skipped:
            lines.append(f"  skipped {name}: {problem} (check with '{cli} verify {name}')")
        return "\n".join(lines)


def pick_model(
    models: Path, wanted: Sequence[Pair], environ: Mapping[str, str] | None = None
) -> Pick:
    """The engine settings to serve ``wanted`` with when ``TRANSLATE_ENGINE`` is not set.

    Candidates are the models in ``models`` (or only ``TRANSLATE_MODEL_DIR`` when that is set);
    a model is used only when every file matches its manifest's digests.
    """
    env = os.environ if environ is None else environ
    result = Pick(models=models, wanted=list(wanted))
    if env.get("TRANSLATE_ENGINE", "").strip():
        result.explicit = env["TRANSLATE_ENGINE"].strip()
        return result
    given = env.get("TRANSLATE_MODEL_DIR", "").strip()
    directories = [Path(given).expanduser()] if given else installed(models)
    candidates: list[Candidate] = []
    for directory in directories:
        problems = verify(directory)
        if problems:
            result.skipped.append((directory.name, problems[0]))
            continue
        candidates.append(Candidate.of(directory, ModelManifest.read(directory), wanted))
    useful = sorted((c for c in candidates if c.covered), key=Candidate.rank)
    result.chosen, result.per_pair = _assign(useful, wanted)
    serving = [result.chosen, *result.per_pair.values()]
    result.unused = [c for c in useful if all(c is not s for s in serving)]
    result.unused += [c for c in candidates if not c.covered]
    return result


def _assign(
    useful: Sequence[Candidate], wanted: Sequence[Pair]
) -> tuple[Candidate | None, dict[Pair, Candidate]]:
    """(the main model, the pairs other models serve): each pair goes to the model that
    translates it directly with the best measured chrF++ (unscored ones after scored ones, then
    by coverage as before); the main model is the one left serving the most pairs, its pivots
    through English included. Without scores this is the single best-covering model."""
    best: dict[Pair, Candidate] = {}
    for pair in wanted:
        direct = [c for c in useful if pair in c.direct]
        if direct:
            best[pair] = min(direct, key=lambda c: (c.score_rank(pair), c.rank()))

    def serves(c: Candidate) -> int:
        return sum(1 for p in wanted if best.get(p) is c or (p not in best and p in c.pivoted))

    if not useful:
        return None, {}
    main = min(useful, key=lambda c: (-serves(c), c.rank()))
    return main, {pair: c for pair, c in best.items() if c is not main}


def _distinct(candidates: Iterable[Candidate]) -> list[Candidate]:
    """In order, each once (candidates hold a manifest, so they are not hashable)."""
    seen: list[Candidate] = []
    for c in candidates:
        if all(c is not s for s in seen):
            seen.append(c)
    return seen


def _scored(candidate: Candidate, pairs: Sequence[Pair]) -> str:
    """``chrF++ fa→en 52.1 (municipal)`` for the pairs it has a score for; ``unscored``."""
    parts = [
        f"{src}→{tgt} {score.chrf:.1f} ({score.set})"
        for src, tgt in pairs
        if (score := candidate.scores.get((src, tgt))) is not None
    ]
    return "chrF++ " + ", ".join(parts) if parts else "unscored"


def _scores_json(candidate: Candidate) -> dict[str, dict[str, Any]]:
    return {
        f"{src}-{tgt}": {"chrf": s.chrf, "bleu": s.bleu, "comet": s.comet, "set": s.set}
        for (src, tgt), s in candidate.scores.items()
    }
