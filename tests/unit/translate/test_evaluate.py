"""``models evaluate`` on a tiny random-weight model: the real pipeline (CTranslate2, sacrebleu,
scores stored with the model), the reference set formats, and ``pick`` choosing per pair by the
stored scores. The figures of a random model mean nothing; that they are computed, stored, shown
and acted on is what is tested."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.translate import model_cli as cli
from services.translate.ct2 import ModelManifest
from services.translate.engines import (
    EngineNotConfigured,
    PairLimitedEngine,
    engines_from_settings,
    parse_model_dirs,
)
from services.translate.evaluate import bleu_tokenizer, score
from services.translate.model_pick import pick_model
from services.translate.model_scores import SCORES_NAME, ModelScores, PairScore
from services.translate.reference_sets import MUNICIPAL_FILE, read_file, read_flores
from services.translate.routing import Router
from services.translate.settings import TranslateSettings
from tools.tiny_models import ENGLISH_LINES, PERSIAN_LINES, build_tiny_m2m100

ARABIC = ("افتتح بلدية مشهد اليوم حديقة جديدة.", "وافق مجلس المدينة على الميزانية.")
RUSSIAN = ("Мэрия Мешхеда открыла новый парк.", "Городской совет утвердил бюджет.")
FLORES_CODES = {"fa": "pes_Arab", "en": "eng_Latn", "ar": "arb_Arab", "ru": "rus_Cyrl"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_m2m100(tmp_path_factory.mktemp("evaluate") / "tiny")


@pytest.fixture(autouse=True)
def _short_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A random model writes until the length guard: keep it short (evaluate honours the
    service's TRANSLATE_* settings, as this shows)."""
    monkeypatch.setenv("TRANSLATE_MAX_DECODING_LENGTH", "12")
    monkeypatch.setenv("TRANSLATE_BEAM_SIZE", "1")
    for var in ("TRANSLATE_ENGINE", "TRANSLATE_MODEL_DIR", "TRANSLATE_MODEL_DIRS"):
        monkeypatch.delenv(var, raising=False)


def _install(models: Path, tiny: Path, name: str) -> Path:
    """``tiny`` as ``models/name`` (the manifest renamed; its digests still hold)."""
    target = models / name
    shutil.copytree(tiny, target)
    data = ModelManifest.load(target).model_dump() | {"name": name}
    ModelManifest.model_validate(data).save(target)
    return target


def _own_set(path: Path, rows: int = 5) -> Path:
    lines = []
    for i in range(rows):
        row = {"id": f"t{i}", "domain": "transport", "fa": PERSIAN_LINES[i], "en": ENGLISH_LINES[i]}
        row |= {"ar": ARABIC[i % 2], "ru": RUSSIAN[i % 2]}
        lines.append(json.dumps(row, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(models: Path, *argv: str) -> int:
    return cli.main(["--models", str(models), *argv])


def _table(out: str) -> dict[str, list[str]]:
    """The evaluate table's rows by pair."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["PAIR", "SEGMENTS"])
    assert lines[start].split() == ["PAIR", "SEGMENTS", "CHRF++", "BLEU", "COMET"]
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) != 5 or "-" not in cells[0]:
            break
        rows[cells[0]] = cells[1:]
    return rows


def _list_line(models: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert _run(models, "list") == 0
    return next(x for x in capsys.readouterr().out.splitlines() if x.startswith(name))


# --- the shipped set -----------------------------------------------------------------------------


def test_the_municipal_set_is_shipped_whole() -> None:
    """At least 150 Persian sentences, each with English, Arabic and Russian references (fails
    until services/translate/refsets/municipal.jsonl is delivered)."""
    rows = read_file(MUNICIPAL_FILE).rows
    assert len(rows) >= 150
    assert all(row.get(lang) for row in rows for lang in ("fa", "en", "ar", "ru"))


def test_evaluate_prints_its_table_on_the_shipped_set(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny-m2m100")
    assert _run(models, "evaluate", "tiny-m2m100") == 0
    out = capsys.readouterr().out
    assert "tiny-m2m100" in out and "on municipal, all segments" in out
    rows = _table(out)
    assert sorted(rows) == ["fa-ar", "fa-en", "fa-ru"]
    shipped = read_file(MUNICIPAL_FILE)
    for pair, (segments, *_) in rows.items():
        source, target = pair.split("-")
        assert int(segments) == len(shipped.pair(source, target))
    assert "municipal chrF++ fa>en" in _list_line(models, "tiny-m2m100", capsys)


# --- evaluate: table, stored scores, list --------------------------------------------------------


def test_evaluate_stores_scores_that_list_shows(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    installed = _install(models, tiny, "tiny-m2m100")
    own = _own_set(tmp_path / "city.jsonl")
    assert "SCORES" in _list_line(models, "NAME", capsys)
    assert " - " in _list_line(models, "tiny-m2m100", capsys)  # not evaluated yet

    assert _run(models, "evaluate", "tiny-m2m100", "--set", str(own)) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert sorted(rows) == ["fa-ar", "fa-en", "fa-ru"]
    for segments, chrf, bleu, comet in rows.values():
        assert segments == "5" and 0 <= float(chrf) <= 100 and 0 <= float(bleu) <= 100
        assert comet == "-"
    assert "COMET: not installed" in out

    stored = ModelScores.read(installed).scores
    assert {s.pair for s in stored} == {"fa-en", "fa-ar", "fa-ru"}
    first = stored[0]
    assert first.set == "city.jsonl" and first.segments == 5
    assert "nc:6|nw:2" in first.chrf_signature  # chrF++: character 6-grams and word bigrams
    assert first.model_version == ModelManifest.load(installed).version
    line = _list_line(models, "tiny-m2m100", capsys)
    assert f"city.jsonl chrF++ fa>en {first.chrf:.1f}" in line and line.endswith("ok")
    # The scores file is not among the digests: the model still verifies.
    assert _run(models, "verify", "tiny-m2m100") == 0

    # Evaluating again replaces a pair's score on that set; other pairs stay.
    assert _run(models, "evaluate", "tiny-m2m100", "--set", str(own), "--pairs", "fa-en") == 0
    assert sorted(s.pair for s in ModelScores.read(installed).scores) == ["fa-ar", "fa-en", "fa-ru"]

    # Scores measured on other weights are not shown (nor used by pick).
    data = ModelManifest.load(installed).model_dump() | {"version": "other-weights"}
    ModelManifest.model_validate(data).save(installed)
    assert " - " in _list_line(models, "tiny-m2m100", capsys)


def test_a_tsv_set_and_a_limit(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny")
    tsv = tmp_path / "pairs.tsv"
    body = "".join(f"{fa}\t{en}\n" for fa, en in zip(PERSIAN_LINES, ENGLISH_LINES, strict=True))
    tsv.write_text("fa\ten\n" + body, encoding="utf-8")
    assert _run(models, "evaluate", "tiny", "--set", str(tsv), "--limit", "4") == 0
    out = capsys.readouterr().out
    assert "first 4 segments" in out
    assert _table(out)["fa-en"][0] == "4"
    (stored,) = ModelScores.read(models / "tiny").scores
    assert stored.limit == 4 and stored.set == "pairs.tsv"


# --- FLORES+ as the user unpacks it ---------------------------------------------------------------


def _flores(root: Path, layout: str, lines: int = 6) -> Path:
    """A FLORES+ release (devtest/devtest.eng_Latn) or FLORES-200 (devtest/eng_Latn.devtest)."""
    devtest = root / "devtest"
    devtest.mkdir(parents=True)
    (root / "dev").mkdir()
    texts = {
        "fa": PERSIAN_LINES,
        "en": ENGLISH_LINES,
        "ar": ARABIC * 15,
        "ru": RUSSIAN * 15,
    }
    for lang, code in FLORES_CODES.items():
        name = f"devtest.{code}" if layout == "flores+" else f"{code}.devtest"
        (devtest / name).write_text("\n".join(texts[lang][:lines]) + "\n", encoding="utf-8")
    (devtest / "devtest.deu_Latn.unrelated").write_text("x\n", encoding="utf-8")
    return root


def test_flores_release_folder_is_read(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny")
    unpacked = tmp_path / "download"
    _flores(unpacked / "floresp-v2.0-rc.3", "flores+")  # as the release zip unpacks
    argv = ("evaluate", "tiny", "--flores", str(unpacked), "--pairs", "fa-en,fa-ar")
    assert _run(models, *argv) == 0
    out = capsys.readouterr().out
    assert "on flores-devtest" in out
    assert {pair: cells[0] for pair, cells in _table(out).items()} == {"fa-en": "6", "fa-ar": "6"}

    flores200 = read_flores(_flores(tmp_path / "flores200_dataset", "flores-200"))
    assert flores200.languages == ("fa", "en", "ar", "ru")
    assert flores200.pair("fa", "en")[0] == (PERSIAN_LINES[0], ENGLISH_LINES[0])


def test_flores_problems_are_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny")
    root = _flores(tmp_path / "flores", "flores+")
    (root / "devtest" / "devtest.rus_Cyrl").write_text("one line\n", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, message in (
        (root, "different line counts"),
        (empty, "no FLORES+ devtest files"),
        (tmp_path / "missing", "no FLORES+ folder"),
    ):
        assert _run(models, "evaluate", "tiny", "--flores", str(folder)) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.jsonl", '{"fa": "سلام", "en": "hello"}\n{"fa": "x", \n', "broken.jsonl:2: not a"),
        ("list.jsonl", '["fa", "en"]\n', "list.jsonl:1: not a JSON object"),
        ("nolang.jsonl", '{"id": "m1", "domain": "x"}\n', "no sentence under a language code"),
        ("one.jsonl", '{"fa": "سلام"}\n', "at least two languages"),
        ("columns.tsv", "fa\ten\nسلام\thello\nتنها\n", "columns.tsv:3: 1 tab-separated columns"),
        ("header.tsv", "Persian\tEnglish\nسلام\thello\n", "header.tsv:1: the header names"),
        ("empty.tsv", "\n", "empty.tsv is empty"),
    ],
)
def test_a_bad_set_file_is_a_one_line_error(
    tiny: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    message: str,
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny")
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert _run(models, "evaluate", "tiny", "--set", str(tmp_path / name)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (models / "tiny" / SCORES_NAME).exists()


def test_other_mistakes_are_one_line_errors(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "tiny")
    own = _own_set(tmp_path / "own.jsonl")
    for argv, message in (
        (("evaluate", "absent", "--set", str(own)), "no model absent installed"),
        (("evaluate", "tiny", "--set", str(tmp_path / "nope.tsv")), "no reference set"),
        (("evaluate", "tiny", "--set", str(own), "--pairs", "fa-de"), "does not translate fa→de"),
        (("evaluate", "tiny", "--set", str(own), "--pairs", "en-fr"), "does not translate en→fr"),
    ):
        assert _run(models, *argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    with (models / "tiny" / "model.bin").open("ab") as f:
        f.write(b"\0")
    assert _run(models, "evaluate", "tiny", "--set", str(own)) == 1
    assert "tiny does not verify: model.bin: sha256 mismatch" in capsys.readouterr().err


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_reward_the_closer_translation() -> None:
    refs = ["The mayor opened a new park in District 10.", "The city council approved the budget."]
    good = score(
        ["The mayor opened a new park in District 10.", "The council approved a budget."],
        refs,
        "en",
    )
    bad = score(["A park.", "Budget council the."], refs, "en")
    assert good.chrf > bad.chrf and good.bleu > bad.bleu
    assert bleu_tokenizer("zh") == "zh" and bleu_tokenizer("fa") == "13a"
    assert bleu_tokenizer("ja") in ("ja-mecab", "char")
    assert "tok:zh" in score(["市长开放了公园"], ["市长开放了新公园"], "zh").bleu_signature


# --- pick per pair by the stored scores ----------------------------------------------------------

PAIRS = [("fa", "en"), ("fa", "ar"), ("fa", "ru")]


def _scores(directory: Path, *entries: tuple[str, str, float], **changes: Any) -> None:
    """Store (pair, set, chrF++) scores for the weights in ``directory``."""
    manifest = ModelManifest.load(directory)
    scores = [
        PairScore(
            pair=pair,
            set=set_name,
            set_sha256="0" * 64,
            segments=150,
            chrf=chrf,
            bleu=chrf / 2,
            chrf_signature="nrefs:1|nc:6|nw:2",
            bleu_signature="nrefs:1|tok:13a",
            evaluated_at=datetime.now(UTC),
            model_version=manifest.version,
            model_sha256=manifest.sha256.get("model.bin"),
        ).model_copy(update=changes)
        for pair, set_name, chrf in entries
    ]
    ModelScores(scores=scores).save(directory)


def test_pick_prefers_the_better_scoring_model_per_pair(tiny: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    a = _install(models, tiny, "a-m2m100")
    b = _install(models, tiny, "b-m2m100")
    # Unscored, the two are equal: the first by name serves everything, as before.
    pick = pick_model(models, PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.directory == a and pick.per_pair == {}

    # The whole municipal set outranks another set (fa-en: 50 beats 70 on FLORES), a higher
    # chrF++ wins (fa-ar: 40 beats 20), and a scored model beats an unscored one (fa-ru).
    _scores(a, ("fa-en", "municipal", 50.0), ("fa-ar", "municipal", 20.0))
    _scores(
        b,
        ("fa-ar", "municipal", 40.0),
        ("fa-en", "flores-devtest", 70.0),
        ("fa-ru", "flores-devtest", 10.0),
    )
    pick = pick_model(models, PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.directory == b  # serves two of three
    assert {pair: c.directory for pair, c in pick.per_pair.items()} == {("fa", "en"): a}
    assert pick.pending == []
    env = pick.env()
    assert env["TRANSLATE_MODEL_DIR"] == str(b.resolve())
    assert env["TRANSLATE_MODEL_DIRS"] == f"fa-en={a.resolve()}"
    message = pick.message()
    assert "translates fa→ar, fa→ru" in message
    assert "and a-m2m100 (m2m100, licence MIT" in message
    assert "translates fa→en, measured: chrF++ fa→en 50.0 (municipal)" in message
    report = pick.as_json()
    assert report["per_pair"][0]["name"] == "a-m2m100"
    assert report["model"]["scores"]["fa-ar"]["chrf"] == 40.0

    # The service started with these settings serves each pair from its model.
    settings = TranslateSettings(
        engine=env["TRANSLATE_ENGINE"],
        model_dir=Path(env["TRANSLATE_MODEL_DIR"]),
        model_dirs=env["TRANSLATE_MODEL_DIRS"],
    )
    router = Router(engines_from_settings(settings))
    served = {f"{s}-{t}": router.routes(s, t)[0][0].model for s, t in PAIRS}
    assert served == {"fa-en": "a-m2m100", "fa-ar": "b-m2m100", "fa-ru": "b-m2m100"}

    # A limited run (--limit) is not the whole municipal set: it ranks as any other set.
    _scores(a, ("fa-en", "municipal", 50.0), limit=10)
    pick = pick_model(models, PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.directory == b and pick.per_pair == {}


def test_scores_of_other_weights_do_not_count(tiny: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    _install(models, tiny, "a-m2m100")
    b = _install(models, tiny, "b-m2m100")
    _scores(b, ("fa-en", "municipal", 90.0), model_version="older-weights")
    pick = pick_model(models, PAIRS, environ={})
    assert pick.chosen is not None and pick.chosen.manifest.name == "a-m2m100"
    assert pick.per_pair == {}


def test_model_dirs_setting(tiny: Path) -> None:
    assert parse_model_dirs(" fa-en=/m/a , fa-ar=/m/b ,") == {
        ("fa", "en"): Path("/m/a"),
        ("fa", "ar"): Path("/m/b"),
    }
    for bad in ("fa-en", "faen=/m/a", "fa-en="):
        with pytest.raises(EngineNotConfigured, match="expected SRC-TGT=DIR"):
            parse_model_dirs(bad)
    with pytest.raises(EngineNotConfigured, match="does not translate fa→de"):
        engines_from_settings(TranslateSettings(engine="ctranslate2", model_dirs=f"fa-de={tiny}"))
    # Only per-pair models: each offers only its pairs, one folder loaded once.
    engines = engines_from_settings(
        TranslateSettings(engine="ctranslate2", model_dirs=f"fa-en={tiny},fa-ar={tiny}")
    )
    (only,) = engines
    assert isinstance(only, PairLimitedEngine)
    assert only.supports("fa", "en") and only.supports("fa", "ar")
    assert not only.supports("fa", "ru")
    assert only.info()["name"] == "tiny-m2m100"  # the rest is the wrapped engine's


# --- COMET, when the optional extra is installed --------------------------------------------------


class _FakeCometModel:
    """Stands in for unbabel-comet's model (torch and a 2 GB download are not available here):
    scores each segment by whether the output equals the reference."""

    def predict(self, data: list[dict[str, str]], **options: Any) -> Any:
        assert options["gpus"] == 0 and options["progress_bar"] is False
        scores = [1.0 if row["mt"] == row["ref"] else 0.0 for row in data]
        return type("Output", (), {"system_score": sum(scores) / len(scores)})()


def _fake_comet(monkeypatch: pytest.MonkeyPatch, download: Any) -> None:
    import importlib.machinery
    import sys
    import types

    module = types.ModuleType("comet")
    module.__spec__ = importlib.machinery.ModuleSpec("comet", None)
    module.download_model = download  # type: ignore[attr-defined]
    module.load_from_checkpoint = lambda path: _FakeCometModel()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comet", module)


def test_comet_fills_its_column_when_installed(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    installed = _install(models, tiny, "tiny")
    own = _own_set(tmp_path / "own.jsonl")
    _fake_comet(monkeypatch, lambda name: f"/cache/{name}")
    assert _run(models, "evaluate", "tiny", "--set", str(own), "--pairs", "fa-en") == 0
    out = capsys.readouterr().out
    assert _table(out)["fa-en"][3] == "0.0" and "COMET:" not in out
    (stored,) = ModelScores.read(installed).scores
    assert stored.comet == 0.0 and stored.comet_model == "Unbabel/wmt22-comet-da"

    def unreachable(name: str) -> str:
        raise OSError("cannot reach huggingface.co\nretrying did not help")

    _fake_comet(monkeypatch, unreachable)
    assert _run(models, "evaluate", "tiny", "--set", str(own), "--pairs", "fa-en") == 0
    out = capsys.readouterr().out
    assert _table(out)["fa-en"][3] == "-"
    assert "COMET: skipped, Unbabel/wmt22-comet-da did not load: OSError: cannot reach" in out
    assert "retrying" not in out
