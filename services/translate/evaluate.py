"""``models evaluate``: how well an installed model translates, in figures a city can compare.

The model translates the source side of a reference set exactly as the service would (the
CTranslate2 engine with the ``TRANSLATE_*`` device, beam and batch settings), and sacrebleu scores
the output against the references: chrF++ (character n-grams plus word bigrams; robust for
Persian and Arabic morphology, the figure models are ranked by) and BLEU (word n-grams, the
long-standing comparison point; ``zh``/``ja``/``ko`` are tokenized for their scripts). COMET, a
neural metric closer to human judgement, is added when the optional ``comet`` extra is installed
and its model can be fetched. Scores are stored with the model (``model_scores``) for ``models
list`` and ``models pick``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.translate.ct2 import CTranslate2Engine, ModelDirectoryError, ModelManifest, verify
from services.translate.model_files import CliError
from services.translate.model_scores import ModelScores, Pair, PairScore
from services.translate.reference_sets import ReferenceSet

COMET_MODEL = "Unbabel/wmt22-comet-da"
CHUNK = 64
"""Segments per engine call: the progress bar moves, and memory stays flat on large sets."""


@dataclass(frozen=True)
class Metrics:
    chrf: float
    bleu: float
    chrf_signature: str
    bleu_signature: str


def bleu_tokenizer(target: str) -> str:
    """sacrebleu's tokenizer for the target language: words are not space-separated in Chinese,
    Japanese and Korean (the MeCab ones need their optional packages; characters otherwise)."""
    if target == "zh":
        return "zh"
    if target in ("ja", "ko"):
        return f"{target}-mecab" if importlib.util.find_spec("MeCab") else "char"
    return "13a"


def score(hypotheses: Sequence[str], references: Sequence[str], target: str) -> Metrics:
    """Corpus-level chrF++ and BLEU of ``hypotheses`` against one reference each."""
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF

    chrf = CHRF(word_order=2)
    bleu = BLEU(tokenize=bleu_tokenizer(target))
    refs = [list(references)]
    return Metrics(
        chrf=float(chrf.corpus_score(list(hypotheses), refs).score),
        bleu=float(bleu.corpus_score(list(hypotheses), refs).score),
        chrf_signature=str(chrf.get_signature()),
        bleu_signature=str(bleu.get_signature()),
    )


class Comet:
    """COMET when ``unbabel-comet`` is installed and its model loads; otherwise says why once."""

    def __init__(self, device: str) -> None:
        self.note: str | None = None
        self._model: Any = None
        self._gpus = 1 if device == "cuda" else 0
        try:
            from comet import download_model, load_from_checkpoint
        except ImportError:
            self.note = "COMET: not installed (pip install '.[comet]'); chrF++ and BLEU only"
            return
        try:
            self._model = load_from_checkpoint(download_model(COMET_MODEL))
        except Exception as e:  # a hub that cannot be reached, a model that does not load
            reason = (str(e).strip().splitlines() or [""])[0]
            self.note = f"COMET: skipped, {COMET_MODEL} did not load: {type(e).__name__}: {reason}"

    @property
    def model(self) -> str | None:
        return None if self._model is None else COMET_MODEL

    def system_score(
        self, sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[str]
    ) -> float | None:
        if self._model is None:
            return None
        data = [
            {"src": s, "mt": h, "ref": r}
            for s, h, r in zip(sources, hypotheses, references, strict=True)
        ]
        output = self._model.predict(data, batch_size=16, gpus=self._gpus, progress_bar=False)
        return float(output.system_score) * 100


def default_pairs(manifest: ModelManifest, refset: ReferenceSet) -> list[Pair]:
    """The set's pairs the model translates directly, from the set's first language (Persian for
    the municipal set); any direction when the model has none from it."""
    languages = refset.languages
    every = [(s, t) for s in languages for t in languages if manifest.supports(s, t)]
    first = [(s, t) for s, t in every if s == languages[0]]
    return first or every


def check_pairs(manifest: ModelManifest, refset: ReferenceSet, pairs: Sequence[Pair]) -> None:
    for source, target in pairs:
        if not manifest.supports(source, target):
            raise CliError(f"{manifest.name} does not translate {source}→{target}")
        if not refset.pair(source, target):
            raise CliError(f"{refset.name} has no {source}→{target} sentences")


def _engine(directory: Path) -> CTranslate2Engine:
    """The engine as the service would build it from its ``TRANSLATE_*`` settings."""
    from services.translate.engines import ct2_engine
    from services.translate.settings import TranslateSettings

    try:
        return ct2_engine(TranslateSettings(), directory)
    except (ModelDirectoryError, RuntimeError, ValueError) as e:
        raise CliError(f"the model does not load: {e}") from None


async def _translate(engine: CTranslate2Engine, sources: list[str], pair: Pair) -> list[str]:
    from tqdm import tqdm

    out: list[str] = []
    label = f"{pair[0]}→{pair[1]}"
    with tqdm(total=len(sources), desc=label, unit="seg", file=sys.stderr, leave=False) as bar:
        for start in range(0, len(sources), CHUNK):
            chunk = sources[start : start + CHUNK]
            out += await engine.translate(chunk, *pair)
            bar.update(len(chunk))
    return out


def evaluate(
    directory: Path,
    refset: ReferenceSet,
    pairs: Sequence[Pair],
    *,
    limit: int | None = None,
    comet: Comet | None = None,
) -> list[PairScore]:
    """Translate and score each pair; the model must verify first (scores of damaged weights
    would be stored against the good ones' version)."""
    problems = verify(directory)
    if problems:
        raise CliError(f"{directory.name} does not verify: {'; '.join(problems)}")
    manifest = ModelManifest.read(directory)
    check_pairs(manifest, refset, pairs)
    engine = _engine(directory)
    results = []
    for pair in pairs:
        sources, references = map(list, zip(*refset.pair(*pair, limit=limit), strict=True))
        hypotheses = asyncio.run(_translate(engine, sources, pair))
        metrics = score(hypotheses, references, pair[1])
        comet_score = None if comet is None else comet.system_score(sources, hypotheses, references)
        results.append(
            PairScore(
                pair=f"{pair[0]}-{pair[1]}",
                set=refset.name,
                set_sha256=refset.sha256,
                limit=limit,
                segments=len(sources),
                chrf=round(metrics.chrf, 2),
                bleu=round(metrics.bleu, 2),
                comet=comet_score,
                chrf_signature=metrics.chrf_signature,
                bleu_signature=metrics.bleu_signature,
                comet_model=None if comet is None else comet.model,
                evaluated_at=datetime.now(UTC),
                model_version=manifest.version,
                model_sha256=manifest.sha256.get("model.bin"),
            )
        )
    return results


def table(scores: Sequence[PairScore]) -> str:
    """One line per pair, aligned, as ``models evaluate`` prints it."""
    header = ("PAIR", "SEGMENTS", "CHRF++", "BLEU", "COMET")
    rows = [
        (
            s.pair,
            str(s.segments),
            f"{s.chrf:.1f}",
            f"{s.bleu:.1f}",
            "-" if s.comet is None else f"{s.comet:.1f}",
        )
        for s in scores
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def cmd_evaluate(
    directory: Path, refset: ReferenceSet, pairs: Sequence[Pair], *, limit: int | None
) -> int:
    """Evaluate, print the table, store the scores with the model."""
    if not directory.is_dir():
        raise CliError(f"no model {directory.name} installed in {directory.parent}")
    manifest = ModelManifest.read(directory)
    pairs = list(pairs) or default_pairs(manifest, refset)
    if not pairs:
        raise CliError(
            f"{manifest.name} translates none of the pairs of {refset.name} "
            f"(languages {', '.join(refset.languages)})"
        )
    from services.translate.settings import TranslateSettings

    comet = Comet(TranslateSettings().device)
    scores = evaluate(directory, refset, pairs, limit=limit, comet=comet)
    size = f"first {limit} segments" if limit is not None else "all segments"
    print(f"{manifest.name} ({manifest.version}) on {refset.name}, {size}")
    print(table(scores))
    if comet.note:
        print(comet.note)
    try:
        path = ModelScores.read(directory).merged(scores).save(directory)
    except OSError as e:
        raise CliError(f"scores not stored in {directory}: {e}") from None
    print(f"stored in {path} (shown by 'models list', used by 'models pick')")
    return 0
