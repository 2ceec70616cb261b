"""Measured quality stored with an installed model: ``cityfeeds-scores.json`` in its folder.

``models evaluate`` writes it, ``models list`` shows it and ``models pick`` ranks models per
language pair by it. It lives beside the weights so that it goes when the model is replaced, and
it is never among the manifest's digests (``verify`` checks only the files those list), so
evaluating again never makes a model fail verification. Each score also records the model's
version and ``model.bin`` digest: a score measured on other weights is ignored, not trusted.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.translate.ct2 import SCORES_NAME, ModelManifest
from services.translate.model_files import CliError
from services.translate.reference_sets import MUNICIPAL

Pair = tuple[str, str]


class PairScore(BaseModel):
    """One pair of one model measured on one reference set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair: str = Field(description="`fa-en`.")
    set: str = Field(description="`municipal`, `flores-devtest`, or the file's name.")
    set_sha256: str = Field(description="Digest of the set's content: which version was used.")
    limit: int | None = Field(default=None, description="Only the first N segments (--limit).")
    segments: int
    chrf: float = Field(description="chrF++ (sacrebleu CHRF, word_order=2), 0-100.")
    bleu: float = Field(description="BLEU (sacrebleu), 0-100.")
    comet: float | None = Field(default=None, description="COMET system score, when measured.")
    chrf_signature: str
    bleu_signature: str
    comet_model: str | None = None
    evaluated_at: AwareDatetime
    model_version: str
    model_sha256: str | None = Field(
        default=None, description="The manifest's digest of model.bin when it lists one."
    )

    @property
    def source_target(self) -> Pair:
        source, _, target = self.pair.partition("-")
        return source, target

    @property
    def complete_municipal(self) -> bool:
        """Measured on the whole shipped set: the one figure models are compared by first."""
        return self.set == MUNICIPAL and self.limit is None


class ModelScores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: list[PairScore] = Field(default_factory=list)

    @classmethod
    def read(cls, directory: Path) -> ModelScores:
        """The stored scores; none when the model was never evaluated."""
        path = directory / SCORES_NAME
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except (OSError, ValidationError) as e:
            raise CliError(f"unreadable {path}: {str(e).splitlines()[0]}") from None

    def merged(self, new: Sequence[PairScore]) -> ModelScores:
        """These scores with ``new`` replacing any earlier one of the same pair and set."""
        replaced = {(s.pair, s.set) for s in new}
        kept = [s for s in self.scores if (s.pair, s.set) not in replaced]
        return ModelScores(scores=[*kept, *new])

    def save(self, directory: Path) -> Path:
        """Write atomically: a reader never sees half a file."""
        path = directory / SCORES_NAME
        body = self.model_dump_json(indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{SCORES_NAME}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def current(self, manifest: ModelManifest) -> list[PairScore]:
        """The scores measured on the weights now installed."""
        digest = manifest.sha256.get("model.bin")
        return [
            s
            for s in self.scores
            if s.model_version == manifest.version and (digest is None or s.model_sha256 == digest)
        ]


def best_per_pair(scores: Sequence[PairScore]) -> dict[Pair, PairScore]:
    """The score that stands for each pair: the whole municipal set's, else the highest chrF++
    on any other set (figures from different sets are not comparable, so the shipped set wins)."""
    best: dict[Pair, PairScore] = {}
    for score in scores:
        pair = score.source_target
        held = best.get(pair)
        if held is None or _key(score) < _key(held):
            best[pair] = score
    return best


def _key(score: PairScore) -> tuple[int, float]:
    return (0 if score.complete_municipal else 1, -score.chrf)


def rank_of(scores: dict[Pair, PairScore], pair: Pair) -> tuple[int, float]:
    """Smaller is better: scored on the whole municipal set, then on another set (higher chrF++
    first within each), then unscored."""
    score = scores.get(pair)
    return (2, 0.0) if score is None else _key(score)


def summary(scores: Sequence[PairScore]) -> str:
    """``municipal chrF++ fa>en 52.1 fa>ar 40.3`` for ``models list``; ``-`` when unscored."""
    best = best_per_pair(scores)
    if not best:
        return "-"
    by_set: dict[str, list[str]] = {}
    for (source, target), score in best.items():
        label = score.set if score.limit is None else f"{score.set}[:{score.limit}]"
        by_set.setdefault(label, []).append(f"{source}>{target} {score.chrf:.1f}")
    return "; ".join(f"{label} chrF++ {' '.join(parts)}" for label, parts in by_set.items())


def load_current(directory: Path, manifest: ModelManifest) -> list[PairScore]:
    """The scores of the weights in ``directory``; an unreadable file counts as none."""
    try:
        return ModelScores.read(directory).current(manifest)
    except CliError:
        return []
