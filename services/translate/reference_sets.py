"""Reference translations to measure a model against, for ``models evaluate``.

Three sources, all read into one :class:`ReferenceSet` (rows of language → sentence):

* ``municipal``: the set shipped in ``services/translate/refsets/municipal.jsonl``, Persian city
  news with English, Arabic and Russian references written by the team;
* a file: JSONL with the same shape (one object per line, a key per language code; ``id``,
  ``domain`` and other non-language keys are ignored), or TSV whose header row names the
  languages (``fa<TAB>en``), source first;
* a FLORES+ folder as the user unpacked it (the data may not be re-hosted, so it is never
  shipped): the openlanguagedata/flores release layout ``devtest/devtest.eng_Latn``, or the
  FLORES-200 layout ``devtest/eng_Latn.devtest``, found in the folder given, in its ``devtest``
  subfolder, or in its one subfolder (``floresp-v2.0-rc.3/``).

Every problem with a file is a ``CliError`` naming the file and line, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.translate.model_files import CliError

MUNICIPAL = "municipal"
MUNICIPAL_FILE = Path(__file__).resolve().parent / "refsets" / "municipal.jsonl"
FLORES = "flores-devtest"

# Platform codes to FLORES+ codes, newest first (FLORES+ 2.0 relabelled zho_Hans as cmn_Hans).
FLORES_CODES: Mapping[str, tuple[str, ...]] = {
    "fa": ("pes_Arab",),
    "en": ("eng_Latn",),
    "ar": ("arb_Arab",),
    "ru": ("rus_Cyrl",),
    "de": ("deu_Latn",),
    "fr": ("fra_Latn",),
    "es": ("spa_Latn",),
    "it": ("ita_Latn",),
    "tr": ("tur_Latn",),
    "ur": ("urd_Arab",),
    "hi": ("hin_Deva",),
    "zh": ("cmn_Hans", "zho_Hans"),
    "ja": ("jpn_Jpan",),
    "ko": ("kor_Hang",),
}

_LANG = re.compile(r"[a-z]{2,3}")
# Keys of a JSONL row that describe it rather than name a language ("id" is also Indonesian's
# code: such a set spells it "ind").
_META_KEYS = frozenset({"id", "domain", "topic", "url", "note", "notes", "source"})

Row = Mapping[str, str]


@dataclass(frozen=True)
class ReferenceSet:
    """Parallel sentences: each row maps language codes to one sentence and its translations."""

    name: str
    languages: tuple[str, ...]
    """In the order the set gives them; the first is the default source language."""
    rows: tuple[Row, ...]

    @property
    def sha256(self) -> str:
        """A digest of the content, so stored scores say which version of a set they measure."""
        canonical = json.dumps([dict(r) for r in self.rows], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def pair(self, source: str, target: str, limit: int | None = None) -> list[tuple[str, str]]:
        """(source, reference) of the rows that have both languages, the first ``limit`` ones."""
        found = [(r[source], r[target]) for r in self.rows if r.get(source) and r.get(target)]
        return found if limit is None else found[:limit]


def load(spec: str | None, flores: Path | None) -> ReferenceSet:
    """The set ``--set``/``--flores`` name: ``municipal`` (the default), a file, or FLORES+."""
    if flores is not None:
        if spec is not None:
            raise CliError("give --set or --flores, not both")
        return read_flores(flores)
    if spec is None or spec == MUNICIPAL:
        if not MUNICIPAL_FILE.is_file():
            raise CliError(f"the municipal reference set is missing: {MUNICIPAL_FILE}")
        return read_file(MUNICIPAL_FILE, name=MUNICIPAL)
    return read_file(Path(spec))


def read_file(path: Path, *, name: str | None = None) -> ReferenceSet:
    """A JSONL or TSV set; the format comes from the extension, else from the first line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"no reference set {path}: use municipal, a .jsonl or .tsv file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read {path}: {e}") from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if not first:
        raise CliError(f"{path} is empty")
    jsonl = path.suffix in (".jsonl", ".json") or (
        path.suffix != ".tsv" and first.lstrip().startswith("{")
    )
    rows, languages = parse_jsonl(lines, path) if jsonl else parse_tsv(lines, path)
    if len(languages) < 2:
        raise CliError(f"{path}: a reference set needs at least two languages, found {languages}")
    return ReferenceSet(name or path.name, tuple(languages), tuple(rows))


def parse_jsonl(lines: Sequence[str], path: Path) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    languages: dict[str, None] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as e:
            raise CliError(f"{path}:{number}: not a JSON object: {e}") from None
        if not isinstance(data, dict):
            raise CliError(f"{path}:{number}: not a JSON object")
        row = {
            key: value.strip()
            for key, value in data.items()
            if key not in _META_KEYS and _LANG.fullmatch(key) and isinstance(value, str)
        }
        if not row:
            raise CliError(f"{path}:{number}: no sentence under a language code such as 'fa'")
        languages.update(dict.fromkeys(row))
        rows.append(row)
    return rows, list(languages)


def parse_tsv(lines: Sequence[str], path: Path) -> tuple[list[Row], list[str]]:
    content = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    header_number, header = content[0]
    languages = [cell.strip() for cell in header.split("\t")]
    bad = [code for code in languages if not _LANG.fullmatch(code)]
    if bad or len(set(languages)) != len(languages):
        raise CliError(
            f"{path}:{header_number}: the header names the languages, tab-separated (fa\ten), "
            f"not {header.strip()!r}"
        )
    rows: list[Row] = []
    for number, line in content[1:]:
        cells = line.split("\t")
        if len(cells) != len(languages):
            raise CliError(
                f"{path}:{number}: {len(cells)} tab-separated columns, the header has "
                f"{len(languages)}"
            )
        rows.append({lang: cell.strip() for lang, cell in zip(languages, cells, strict=True)})
    return rows, languages


def _flores_folder(root: Path) -> Path:
    """The folder holding the devtest files: ``root``, its ``devtest``, or its one subfolder's."""
    if not root.is_dir():
        raise CliError(f"no FLORES+ folder {root}")
    tops = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for folder in (root / "devtest", root, *(t / "devtest" for t in tops if len(tops) == 1)):
        if folder.is_dir() and any(_is_devtest(p.name) for p in folder.iterdir()):
            return folder
    raise CliError(
        f"no FLORES+ devtest files in {root}: expected devtest/devtest.eng_Latn (FLORES+ "
        "release) or devtest/eng_Latn.devtest (FLORES-200)"
    )


def _is_devtest(name: str) -> bool:
    return name.startswith("devtest.") or name.endswith(".devtest")


def read_flores(root: Path) -> ReferenceSet:
    """The devtest sentences of every language in ``FLORES_CODES`` the folder has."""
    folder = _flores_folder(root)
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    columns: dict[str, list[str]] = {}
    for lang, codes in FLORES_CODES.items():
        for code in codes:
            path = files.get(f"devtest.{code.lower()}") or files.get(f"{code.lower()}.devtest")
            if path is not None:
                try:
                    columns[lang] = path.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as e:
                    raise CliError(f"cannot read {path}: {e}") from None
                break
    if len(columns) < 2:
        wanted = ", ".join(codes[0] for codes in FLORES_CODES.values())
        raise CliError(f"{folder}: fewer than two known languages among {wanted}")
    sizes = {lang: len(lines) for lang, lines in columns.items()}
    if len(set(sizes.values())) > 1:
        raise CliError(f"{folder}: the languages have different line counts: {sizes}")
    rows = [
        {lang: lines[i].strip() for lang, lines in columns.items()}
        for i in range(next(iter(sizes.values())))
    ]
    return ReferenceSet(FLORES, tuple(columns), tuple(rows))
