"""Precision and recall of :func:`shared.zwnj.restore_zwnj` on the labelled word list, and its
cost per 10 kB of Persian news.

    .venv/bin/python -m bench.zwnj_accuracy

Precision: of the ZWNJs it inserted, the share that the label has. Recall: of the ZWNJs the
labels need, the share it inserted. A ZWNJ is compared by where it sits among the letters, so a
space that became a ZWNJ counts like a glued word that got one. Trap rows (words that must not
change, such as میدان or تنها) count every ZWNJ as a false one and are listed when changed.
The unit tests assert the floors (tests/unit/shared/test_zwnj.py); docs/zwnj.md reports the numbers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.persian import normalise
from shared.zwnj import ZWNJ, restore_zwnj

ROOT = Path(__file__).resolve().parent.parent
WORDS = ROOT / "tests" / "fixtures" / "zwnj_words.tsv"
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
KINDS = ("prefix", "suffix", "compound", "trap")


@dataclass(frozen=True)
class Row:
    as_scraped: str
    expected: str
    kind: str


@dataclass
class Tally:
    right: int = 0  # inserted and labelled
    wrong: int = 0  # inserted, not labelled
    missed: int = 0  # labelled, not inserted
    rows: int = 0
    exact: int = 0  # rows whose whole output is the label

    @property
    def precision(self) -> float:
        inserted = self.right + self.wrong
        return self.right / inserted if inserted else 1.0

    @property
    def recall(self) -> float:
        needed = self.right + self.missed
        return self.right / needed if needed else 1.0


@dataclass
class Scores:
    overall: Tally = field(default_factory=Tally)
    by_kind: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    traps_changed: list[tuple[str, str]] = field(default_factory=list)
    wrong_rows: list[tuple[str, str, str]] = field(default_factory=list)


def read_rows(path: Path = WORDS) -> list[Row]:
    """The labelled list: as_scraped, expected, kind; '#' starts a comment line."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 3 or cells[2] not in KINDS:
            raise ValueError(f"{path}:{number}: expected as_scraped<TAB>expected<TAB>kind")
        rows.append(Row(*cells))
    return rows


def zwnj_slots(text: str) -> set[int]:
    """Where the ZWNJs sit, counted in letters (spaces and ZWNJs not counted)."""
    slots, letters = set(), 0
    for ch in text:
        if ch == ZWNJ:
            slots.add(letters)
        elif ch != " ":
            letters += 1
    return slots


def score(rows: list[Row]) -> Scores:
    scores = Scores()
    for row in rows:
        got = restore_zwnj(row.as_scraped)
        gold, inserted = zwnj_slots(row.expected), zwnj_slots(got)
        for tally in (scores.overall, scores.by_kind[row.kind]):
            tally.right += len(gold & inserted)
            tally.wrong += len(inserted - gold)
            tally.missed += len(gold - inserted)
            tally.rows += 1
            tally.exact += got == row.expected
        if row.kind == "trap" and got != row.as_scraped:
            scores.traps_changed.append((row.as_scraped, got))
        elif inserted - gold:
            scores.wrong_rows.append((row.as_scraped, got, row.expected))
    return scores


def microseconds_per_10kb(repeat: int = 20) -> tuple[float, float]:
    """restore_zwnj on the sample pages (normalised first, as ingest does), per 10 kB of text:
    (unseen words: the word cache cleared before each round, words seen before)."""
    from shared.zwnj import restore_word

    text = "\n".join(normalise(p.read_text(encoding="utf-8")) for p in SAMPLES.glob("*.txt"))
    size = len(text.encode("utf-8"))
    best = {True: float("inf"), False: float("inf")}
    for cold in (True, False) * repeat:
        if cold:
            restore_word.cache_clear()
        start = time.perf_counter()
        restore_zwnj(text)
        best[cold] = min(best[cold], time.perf_counter() - start)
    return best[True] * 1e10 / size, best[False] * 1e10 / size


def report(scores: Scores) -> str:
    lines = ["| kind | rows | exact | ZWNJ right | wrong | missed | precision | recall |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, t in [*scores.by_kind.items(), ("all", scores.overall)]:
        lines.append(
            f"| {name} | {t.rows} | {t.exact} | {t.right} | {t.wrong} | {t.missed} "
            f"| {t.precision:.3f} | {t.recall:.3f} |"
        )
    lines.append(f"\ntraps changed: {len(scores.traps_changed)}")
    lines += [f"  {a} -> {b}" for a, b in scores.traps_changed]
    lines.append(f"rows with a wrong ZWNJ: {len(scores.wrong_rows)}")
    lines += [f"  {a} -> {b} (expected {c})" for a, b, c in scores.wrong_rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=Path, default=WORDS)
    args = parser.parse_args()
    scores = score(read_rows(args.words))
    print(report(scores))
    cold, warm = microseconds_per_10kb()
    print(f"cost per 10 kB of normalised Persian: {cold:.0f} µs unseen words, {warm:.0f} µs seen")


if __name__ == "__main__":
    main()
