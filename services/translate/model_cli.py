"""Fetch, install, list and verify the local translation models the CTranslate2 engine serves.

Usage (``python -m services.translate.model_cli --help``)::

    list                       installed models: family, version, languages, licence, size, state
    verify [NAME ...]          re-check every file against the manifest's SHA-256 digests
    catalogue [--catalogue FILE]
                               what ``fetch NAME`` offers: licences (non-commercial said),
                               download sizes, languages, published scores
    fetch NAME [--catalogue FILE] [--force]
                               a catalogue model from the Hugging Face hub (e.g. m2m100-418m)
    ensure [--catalogue FILE]  ``make run``'s step: fetch the default when no model is installed
    fetch opus-mt SRC TGT (--release NAME [--sha256 HEX] | --url URL --sha256 HEX) [--name NAME]
          [--quantization int8|int16|float16|none] [--max-size MIB] [--force]
    install DIR|ARCHIVE [--name NAME] [--force]
    pick [--registry FILE [--publisher NAME ...]] [--pair SRC-TGT ...] [--env-file FILE] [--json]
                               the engine settings ``make run`` starts translate with
    evaluate NAME [--set municipal|FILE | --flores DIR] [--pairs SRC-TGT,...] [--limit N]
                               chrF++/BLEU (COMET) per pair, stored with the model

The models folder is ``--models``, else ``$TRANSLATE_MODELS_DIR``, else
``~/.cache/city-syndication/models``; each model is one subfolder in the layout ``ct2.py`` serves
(converted model, SentencePiece files, ``cityfeeds-model.json`` with digests).

``fetch opus-mt`` downloads a Helsinki-NLP OPUS-MT release archive (a Marian ``.npz``, its
``vocab.yml``, ``source.spm``/``target.spm``, README and LICENSE) and converts it with
CTranslate2's ``MarianConverter``, which needs neither torch nor transformers. Release names differ
per pair (``opus-2020-01-16``, ``opus+bt-2021-04-14`` ...) and are listed in the pair's README at
https://github.com/Helsinki-NLP/OPUS-MT-train/tree/master/models, so one has to be named: with
``--release`` the URL is ``https://object.pouta.csc.fi/OPUS-MT-models/{src}-{tgt}/{release}.zip``,
or give the whole ``--url`` with its ``--sha256`` (an arbitrary address is trusted only for the
archive it was meant to serve). A download stops at ``--max-size`` whether or not the server
declares its length, and redirects are followed on the same host only (never down to http).

``install`` takes a converted model folder, or a ``.tar`` (gz, bz2, xz) or ``.zip`` archive of one
(the manifest at its top or in its one top folder). Only regular files and folders get in: a
symbolic or hard link, a device, a FIFO, an absolute path or a ``..`` anywhere refuses the whole
install, so nothing outside the model can be copied in and then vouched for by the digests the
manifest records. A corrupt or truncated archive is an error message, not a traceback.

``fetch NAME`` installs an entry of the catalogue (``catalogue.py``, plus ``--catalogue FILE``, a
JSON list of entries) through the real ``huggingface_hub`` client (``hub.py``): ``HF_ENDPOINT``
(a mirror), ``HF_TOKEN`` (gated repositories), its progress bars, a connection cut mid-file
resumed with a Range request, and whole files kept in a hidden ``.download-NAME-REV`` folder so
the same command run again fetches only what is missing. Exactly the entry's files are taken at
its pinned commit, each checked against the SHA-256 the entry pins (a mismatch names the file and
installs nothing); the manifest records version = the commit, the licence, the languages and
``source_url`` = ``https://huggingface.co/REPO/tree/REV``. An entry that is the original model
(``conversion: transformers``) is converted here by CTranslate2's ``TransformersConverter``, which
needs ``pip install '.[convert]'`` (torch CPU, transformers); without it, one line says so before
anything is downloaded. An entry marked unverified is never fetched.

``ensure`` runs in ``make run`` before ``pick``: when no model is installed (and neither
``TRANSLATE_ENGINE`` nor ``TRANSLATE_MODEL_DIR`` is set) it fetches ``$TRANSLATE_DEFAULT_MODEL``
(default ``m2m100-418m``, MIT) unless ``TRANSLATE_AUTO_FETCH=0``. It first asks the hub for the
repository with a 5-second timeout; a hub that cannot be reached, or a fetch that fails, is one
line and exit 0, so the stack starts as before with translations pending. An unknown
``TRANSLATE_DEFAULT_MODEL`` is an error (exit 1).

M2M100 and NLLB can also be converted elsewhere by ``ct2-transformers-converter``: add a
``cityfeeds-model.json`` next to its output (plus the SentencePiece model), then ``install`` that
directory here.

Every install is built in a hidden folder beside the target, loaded once with the engine, and only
then renamed into place, so a failed or interrupted fetch never leaves a half model behind.

``pick`` chooses what to serve when ``TRANSLATE_ENGINE`` is not set: the installed model that
verifies and covers the most of the wanted pairs (directly or through English), a multilingual
one before single-pair Marian ones. It prints what it chose and what stays pending, and with
``--env-file`` writes the ``TRANSLATE_*`` settings (``KEY=VALUE`` lines) for the service. Once
models are scored (``evaluate``, docs/evaluation.md), each pair goes to the model with the best
chrF++ for it, and pairs served by another model than the main one are listed in
``TRANSLATE_MODEL_DIRS``.

This module is the command line only: the models folder, staging and install are
``model_store.py``, the two kinds of fetch ``model_fetch.py``, the choice ``model_pick.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.translate import hub
from services.translate.catalogue import DEFAULT_MODEL, CatalogueEntry
from services.translate.ct2 import (
    MANIFEST_NAME,
    ModelDirectoryError,
    ModelManifest,
    digest_files,
    verify,
)
from services.translate.model_fetch import (
    QUANTIZATIONS,
    catalogue_entry,
    cmd_fetch_catalogue,
    cmd_fetch_opus_mt,
    read_catalogue,
)
from services.translate.model_files import DEFAULT_MAX_DOWNLOAD_MIB, human_size

# The error the CLI prints and exits 1 on; re-exported for the callers that catch it from here.
from services.translate.model_files import CliError as CliError
from services.translate.model_pick import Pair, pick_model, registry_pairs
from services.translate.model_scores import load_current
from services.translate.model_scores import summary as score_summary
from services.translate.model_store import (
    LANGUAGE_CODE,
    check_name,
    finish_install,
    folder_size,
    installed,
    languages_of,
    models_dir,
    refuse_existing,
    unpack,
    work_folder,
)


def _python_command() -> str:
    """How the operator reaches this interpreter: relative when it is inside the working folder
    (``.venv/bin/python``), else plain ``python``."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return "python"


# --- list / verify -------------------------------------------------------------------------------


def cmd_list(models: Path) -> int:
    """One line per installed model, so an operator sees at a glance what can be served."""
    found = installed(models)
    if not found:
        print(f"no models installed in {models}")
        print(
            f"fetch one with: python -m services.translate.model_cli fetch {DEFAULT_MODEL} "
            "(models catalogue lists them all); see --help"
        )
        return 0
    rows: list[tuple[str, ...]] = []
    for directory in found:
        problems = verify(directory)
        try:
            manifest = ModelManifest.read(directory)
            family: str = manifest.family
            version = manifest.version
            languages, licence = languages_of(manifest), manifest.licence
            scores = score_summary(load_current(directory, manifest))
        except ModelDirectoryError:
            family = version = languages = licence = scores = "?"
        state = "ok" if not problems else problems[0]
        size = human_size(folder_size(directory))
        rows.append((directory.name, family, version, languages, licence, size, scores, state))
    header = ("NAME", "FAMILY", "VERSION", "LANGUAGES", "LICENCE", "SIZE", "SCORES", "STATE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def cmd_verify(models: Path, names: Sequence[str]) -> int:
    """Exit 1 when any model has a problem, so deployments can gate on it."""
    directories = [models / check_name(n) for n in names] if names else installed(models)
    if not directories:
        raise CliError(f"no models installed in {models}")
    failed = False
    for directory in directories:
        problems = verify(directory)
        if problems:
            failed = True
            for problem in problems:
                print(f"{directory.name}: {problem}")
        else:
            print(f"{directory.name}: ok")
    return 1 if failed else 0


# --- ensure: make run's step ---------------------------------------------------------------------


def _has_model(models: Path) -> bool:
    return any((d / MANIFEST_NAME).is_file() for d in installed(models))


def cmd_ensure(
    models: Path, *, catalogue_file: Path | None, environ: Mapping[str, str] | None = None
) -> int:
    """``make run``'s step before ``pick``: fetch the default model when none is installed and the
    hub answers. A hub that cannot be reached, or a fetch that fails, is one line and exit 0, so
    the stack starts as before with translations pending."""
    env = os.environ if environ is None else environ
    if any(env.get(k, "").strip() for k in ("TRANSLATE_ENGINE", "TRANSLATE_MODEL_DIR")):
        return 0  # the operator chose what to serve; pick reports it
    if _has_model(models):
        return 0
    name = env.get("TRANSLATE_DEFAULT_MODEL", "").strip() or DEFAULT_MODEL
    later = (
        f"fetch one later with: {_python_command()} -m services.translate.model_cli fetch {name}"
    )
    opt_out = env.get("TRANSLATE_AUTO_FETCH", "").strip()
    if opt_out.lower() in ("0", "false", "no", "off"):
        print(f"translation models: none installed, TRANSLATE_AUTO_FETCH={opt_out}; {later}")
        return 0
    entry = catalogue_entry(name, catalogue_file)
    try:
        hub.probe(hub.source_of(entry, hub.endpoint()))
        return cmd_fetch_catalogue(models, name, catalogue_file=catalogue_file, force=False)
    except hub.HubUnreachable as e:
        print(f"translation models: {e}; translations stay pending; {later}")
    except (CliError, ModelDirectoryError, OSError) as e:
        print(f"translation models: fetching {name} failed: {e}; translations stay pending")
    return 0


# --- catalogue -----------------------------------------------------------------------------------


def _catalogue_languages(entry: CatalogueEntry) -> str:
    codes = [f"{p[0]}>{p[1]}" if not isinstance(p, str) else p for p in entry.languages]
    return ",".join(codes[:8]) + (f" +{len(codes) - 8}" if len(codes) > 8 else "")


def cmd_catalogue(models: Path, catalogue_file: Path | None) -> int:
    """What ``fetch NAME`` offers, with the licence (non-commercial said in words) and the scores
    the authors published, so a city chooses knowingly."""
    entries = read_catalogue(catalogue_file)
    if not entries:
        print("the catalogue is empty")
        return 0
    header = ("NAME", "FAMILY", "LICENCE", "DOWNLOAD", "LANGUAGES", "INSTALLED")
    rows = [
        (
            e.name + (" (default)" if e.name == DEFAULT_MODEL else ""),
            e.family,
            e.licence + (" (non-commercial)" if e.non_commercial else ""),
            f"{e.size_mib} MiB",
            _catalogue_languages(e),
            "yes" if (models / e.name / MANIFEST_NAME).is_file() else "no",
        )
        for e in entries.values()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for entry, row in zip([None, *entries.values()], [header, *rows], strict=True):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
        for score in entry.scores if entry is not None else ():
            print(
                f"    published: {score.pair} {score.metric} {score.value:g} on {score.test_set} "
                f"({score.source})"
            )
    print(f"fetch one with: {_python_command()} -m services.translate.model_cli fetch NAME")
    return 0


# --- fetch ---------------------------------------------------------------------------------------


CATALOGUE_HELP = "a JSON list of extra catalogue entries (private models)"
_OPUS_ONLY = ("release", "url", "sha256", "name", "quantization")


def cmd_fetch(models: Path, args: argparse.Namespace) -> int:
    """``fetch opus-mt SRC TGT ...`` (a release archive) or ``fetch NAME`` (the catalogue); a
    Ctrl-C is one line too (the work folder is gone by then, whole downloads kept)."""
    try:
        return _fetch_either(models, args)
    except KeyboardInterrupt:
        raise CliError("fetch interrupted, nothing installed: run it again to resume") from None


def _fetch_either(models: Path, args: argparse.Namespace) -> int:
    if args.family == "opus-mt":
        if args.src is None or args.tgt is None:
            raise CliError("fetch opus-mt needs SRC and TGT, e.g. fetch opus-mt fa en --release R")
        return cmd_fetch_opus_mt(
            models,
            args.src,
            args.tgt,
            url=args.url,
            release=args.release,
            name=args.name,
            sha256=args.sha256,
            quantization=args.quantization or "int8",
            force=args.force,
            max_bytes=args.max_size << 20,
        )
    given = [f"--{o}" for o in _OPUS_ONLY if getattr(args, o) is not None]
    if args.src is not None or given:
        extra = " ".join(filter(None, [args.src, args.tgt, *given]))
        raise CliError(f"fetch {args.family} takes no {extra}: those are for fetch opus-mt")
    return cmd_fetch_catalogue(models, args.family, catalogue_file=args.catalogue, force=args.force)


# --- install -------------------------------------------------------------------------------------


def cmd_install(models: Path, source: Path, *, name: str | None, force: bool) -> int:
    """Install a converted model from a folder or an archive of one; digests are added if absent.

    What is checked, digested and loaded is the staged copy, never ``source``, so the source
    cannot change between the check and the copy."""
    if name is not None:
        refuse_existing(models / check_name(name), force)
    with work_folder(models, name or "install") as work:
        built = unpack(source, work)
        try:
            manifest = ModelManifest.load(built)
        except ModelDirectoryError as e:
            raise CliError(str(e).replace(str(built), str(source))) from None
        problems = verify(built)
        if problems:
            raise CliError(f"{source} does not verify: {'; '.join(problems)}")
        name = check_name(name or manifest.name)
        target = models / name
        refuse_existing(target, force)
        if not manifest.sha256:
            manifest.model_copy(update={"sha256": digest_files(built)}).save(built)
        finish_install(built, target, force)
    print(f"installed {name} ({manifest.family}, {manifest.version}) in {target}")
    return 0


# --- pick ----------------------------------------------------------------------------------------


def cmd_pick(
    models: Path,
    wanted: Sequence[Pair],
    *,
    env_file: Path | None,
    as_json: bool,
) -> int:
    """Print the choice; with ``env_file``, write its settings there (empty when none)."""
    result = pick_model(models, wanted)
    if env_file is not None:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{key}={value}\n" for key, value in result.env().items())
        env_file.write_text(
            "# written by python -m services.translate.model_cli pick; read by stack.py up\n"
            + body,
            encoding="utf-8",
        )
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        print(result.message(_python_command()))
    return 0


# --- command line --------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _pair(text: str) -> Pair:
    src, sep, tgt = text.partition("-")
    if not sep or not LANGUAGE_CODE.fullmatch(src) or not LANGUAGE_CODE.fullmatch(tgt):
        raise argparse.ArgumentTypeError(f"expected SRC-TGT such as fa-en, got {text!r}")
    return src, tgt


# --- evaluate: measured quality, stored with the model -------------------------------------------


def _pairs(text: str) -> list[Pair]:
    return [_pair(part.strip()) for part in text.split(",") if part.strip()]


def _add_evaluate_parser(sub: Any) -> None:
    p_eval = sub.add_parser(
        "evaluate",
        help="score an installed model (chrF++, BLEU, COMET if installed) on reference sentences",
        description="Translate a reference set with the installed model as the service would, "
        "print chrF++ and BLEU per pair (COMET with the 'comet' extra), and store the scores "
        "with the model for 'list' and 'pick'. See docs/evaluation.md.",
    )
    p_eval.add_argument("name", metavar="NAME", help="an installed model")
    source = p_eval.add_mutually_exclusive_group()
    source.add_argument(
        "--set",
        metavar="municipal|FILE",
        help="the shipped municipal set (default), or a .jsonl / .tsv file of your own",
    )
    source.add_argument(
        "--flores", type=Path, metavar="DIR", help="an unpacked FLORES+ release: its devtest"
    )
    p_eval.add_argument(
        "--pairs",
        type=_pairs,
        default=[],
        metavar="SRC-TGT,...",
        help="the pairs to score (default: every pair of the set the model translates directly)",
    )
    p_eval.add_argument(
        "--limit", type=_positive_int, metavar="N", help="only the first N sentences per pair"
    )


def _evaluate(models: Path, args: argparse.Namespace) -> int:
    from services.translate import evaluate, reference_sets

    directory = models / check_name(args.name)
    refset = reference_sets.load(args.set, args.flores)
    return evaluate.cmd_evaluate(directory, refset, args.pairs, limit=args.limit)


def _add_fetch_parser(sub: Any) -> None:
    """``fetch NAME`` (the catalogue) and ``fetch opus-mt SRC TGT``."""
    p_fetch = sub.add_parser(
        "fetch",
        help="install a catalogue model from the Hugging Face hub (NAME), or an OPUS-MT release "
        "(opus-mt SRC TGT)",
    )
    p_fetch.add_argument("family", metavar="NAME", help="a catalogue name, or opus-mt")
    p_fetch.add_argument("src", metavar="SRC", nargs="?", help="opus-mt: source language, e.g. fa")
    p_fetch.add_argument("tgt", metavar="TGT", nargs="?", help="opus-mt: target language, e.g. en")
    p_fetch.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)
    p_fetch.add_argument("--release", help="OPUS-MT release name, e.g. opus-2020-01-16")
    p_fetch.add_argument("--url", help="archive URL (overrides --release; needs --sha256)")
    p_fetch.add_argument("--sha256", help="expected SHA-256 of the archive")
    p_fetch.add_argument(
        "--max-size",
        type=_positive_int,
        default=DEFAULT_MAX_DOWNLOAD_MIB,
        metavar="MIB",
        help=f"stop a download past this many MiB (default {DEFAULT_MAX_DOWNLOAD_MIB})",
    )
    p_fetch.add_argument("--name", help="installed name (default: opus-mt-SRC-TGT)")
    p_fetch.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        help="opus-mt: weights as stored on disk (default int8: a quarter of float32's size)",
    )
    p_fetch.add_argument("--force", action="store_true", help="replace an existing model")


def _add_catalogue_parsers(sub: Any) -> None:
    """``ensure`` (``make run``'s step) and ``catalogue``."""
    p_ensure = sub.add_parser(
        "ensure",
        help="make run's step: fetch the default model when none is installed and the hub "
        "answers (TRANSLATE_AUTO_FETCH=0 opts out, TRANSLATE_DEFAULT_MODEL picks another)",
    )
    p_ensure.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)
    p_catalogue = sub.add_parser(
        "catalogue", help="the models fetch NAME offers, with licences and published scores"
    )
    p_catalogue.add_argument("--catalogue", type=Path, metavar="FILE", help=CATALOGUE_HELP)


def _add_install_parser(sub: Any) -> None:
    """``install DIR|ARCHIVE``."""
    p_install = sub.add_parser(
        "install",
        help="install an already converted model: a folder, or a .tar(.gz|.bz2|.xz) or .zip of one",
    )
    p_install.add_argument("directory", type=Path, metavar="DIR|ARCHIVE")
    p_install.add_argument("--name", help="installed name (default: the manifest's name)")
    p_install.add_argument("--force", action="store_true", help="replace an existing model")


def _add_pick_parser(sub: Any) -> None:
    """``pick``: what ``make run`` serves."""
    p_pick = sub.add_parser(
        "pick",
        help="the installed model to serve when TRANSLATE_ENGINE is not set",
        description="Choose the installed model that verifies and covers the most wanted pairs "
        "(a multilingual one first) and print it with what stays pending. An explicit "
        "TRANSLATE_ENGINE wins; TRANSLATE_MODEL_DIR limits the choice to that directory.",
    )
    p_pick.add_argument(
        "--registry", type=Path, metavar="FILE", help="a registry YAML file: its pairs are wanted"
    )
    p_pick.add_argument(
        "--publisher",
        action="append",
        default=[],
        metavar="NAME",
        help="only this publisher's pairs from --registry (repeatable)",
    )
    p_pick.add_argument(
        "--pair",
        action="append",
        type=_pair,
        default=[],
        metavar="SRC-TGT",
        help="a wanted pair, e.g. fa-en (repeatable)",
    )
    p_pick.add_argument(
        "--env-file", type=Path, metavar="FILE", help="write the settings as KEY=VALUE lines"
    )
    p_pick.add_argument("--json", action="store_true", help="print the choice as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.translate.model_cli",
        description="Fetch, install, list and verify local CTranslate2 translation models.",
    )
    parser.add_argument(
        "--models",
        metavar="DIR",
        help="models folder (default: $TRANSLATE_MODELS_DIR, else ~/.cache/city-syndication/"
        "models)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list installed models")
    p_verify = sub.add_parser("verify", help="check installed models against their digests")
    p_verify.add_argument("names", nargs="*", metavar="NAME")
    _add_fetch_parser(sub)
    _add_catalogue_parsers(sub)
    _add_install_parser(sub)
    _add_pick_parser(sub)
    _add_evaluate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = models_dir(args.models)
    try:
        if args.command == "list":
            return cmd_list(models)
        if args.command == "verify":
            return cmd_verify(models, args.names)
        if args.command == "fetch":
            return cmd_fetch(models, args)
        if args.command == "ensure":
            return cmd_ensure(models, catalogue_file=args.catalogue)
        if args.command == "catalogue":
            return cmd_catalogue(models, args.catalogue)
        if args.command == "install":
            return cmd_install(models, args.directory, name=args.name, force=args.force)
        if args.command == "evaluate":
            return _evaluate(models, args)
        if args.command == "pick":
            if args.publisher and args.registry is None:
                raise CliError("--publisher needs --registry")
            wanted = registry_pairs(args.registry, args.publisher) if args.registry else []
            wanted += [p for p in args.pair if p not in wanted]
            if not wanted:
                raise CliError("name the wanted pairs: --registry FILE and/or --pair SRC-TGT")
            return cmd_pick(models, wanted, env_file=args.env_file, as_json=args.json)
    except (CliError, ModelDirectoryError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
