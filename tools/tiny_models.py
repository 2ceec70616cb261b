"""Tiny random-weight translation models, built locally with numpy and SentencePiece.

Weights can never be downloaded here, yet the CTranslate2 engine has to be exercised exactly as in
production: a converted model directory with SentencePiece files and a ``cityfeeds-model.json``
manifest. Marian models are plain ``.npz`` archives, so one with the real parameter names and
random values converts with ``ctranslate2.converters.MarianConverter`` without torch. The output
is nonsense (random weights) but has the real shape, so it also serves speed benchmarks when built
with production dimensions (speed does not depend on weight values): see ``OPUS_MT_BASE`` and
``M2M100_418M``.

M2M100's only converter (``TransformersConverter``) needs torch and transformers, which this
project does not install, so ``build_tiny_m2m100`` fills a CTranslate2 ``TransformerSpec`` of
M2M100's layout (pre-norm, ReLU, sinusoidal positions, one embedding matrix shared by encoder,
decoder and output) directly with numpy arrays and saves it as the converter would. NLLB has the
same layout with other language tokens.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import sentencepiece as spm
import yaml

from services.translate.ct2 import ModelManifest, digest_files

PERSIAN_LINES: tuple[str, ...] = (
    "شهرداری مشهد امروز از افتتاح یک پارک جدید در منطقه ده خبر داد.",
    "شهردار مشهد در نشست خبری گفت که پروژه قطار شهری تا پایان سال تکمیل می‌شود.",
    "شورای اسلامی شهر تهران بودجه سال آینده را تصویب کرد.",
    "خط دو قطار شهری مشهد از هفته آینده ساعت کار خود را افزایش می‌دهد.",
    "سازمان پارک‌ها و فضای سبز شهرداری هزاران درخت جدید کاشت.",
    "معاون حمل و نقل شهرداری از نوسازی ناوگان اتوبوسرانی خبر داد.",
    "مجتمع تجاری متروپلیس میزبان نمایشگاه صنایع دستی است.",
    "بارش باران در مشهد باعث آبگرفتگی برخی معابر شد.",
    "نیروهای خدمات شهری در طول شب معابر را پاکسازی کردند.",
    "جشنواره فرهنگی شهر با حضور هنرمندان محلی برگزار شد.",
    "شهرداری تبریز طرح توسعه پیاده‌راه‌ها را آغاز کرد.",
    "آتش‌نشانی اصفهان یک آتش‌سوزی را در بازار مهار کرد.",
    "زائران حرم امام رضا از خدمات رایگان شهرداری استفاده کردند.",
    "کتابخانه عمومی جدید در بلوار وکیل‌آباد افتتاح شد.",
    "ساخت پل جدید روی بزرگراه آسیایی به مرحله پایانی رسید.",
    "شهروندان می‌توانند شکایات خود را با شماره ۱۳۷ ثبت کنند.",
    "قیمت بلیت اتوبوس و مترو از ابتدای فروردین تغییر می‌کند.",
    "برنامه تفکیک زباله از مبدأ در ده محله اجرا می‌شود.",
    "مدیر منطقه هشت از بهسازی خیابان‌های اطراف حرم خبر داد.",
    "روز جهانی محیط زیست با کاشت نهال در مدارس گرامی داشته شد.",
    "سامانه دوچرخه اشتراکی در مرکز شهر راه‌اندازی شد.",
    "نمایشگاه کتاب مشهد از دوشنبه آغاز به کار می‌کند.",
    "کارگران شهرداری آسفالت خیابان امام خمینی را ترمیم کردند.",
    "ترافیک سنگین در ورودی‌های شهر در تعطیلات نوروز پیش‌بینی می‌شود.",
    "شورای شهر با افزایش عوارض نوسازی مخالفت کرد.",
    "بیمارستان جدید شهر با ظرفیت دویست تخت افتتاح می‌شود.",
    "گردشگران خارجی از موزه آستان قدس بازدید کردند.",
    "پروژه نورپردازی میدان شهدا به پایان رسید.",
    "ایستگاه جدید آتش‌نشانی در شمال شهر ساخته می‌شود.",
    "شهرداری برای زمستان نمک و شن کافی ذخیره کرده است.",
)

ENGLISH_LINES: tuple[str, ...] = (
    "Mashhad Municipality today announced the opening of a new park in District 10.",
    "The mayor of Mashhad told a press conference the light rail project ends this year.",
    "Tehran City Council approved next year's budget.",
    "Mashhad metro line 2 will extend its operating hours from next week.",
    "The municipal parks and green space organisation planted thousands of new trees.",
    "The deputy mayor for transport announced the renewal of the bus fleet.",
    "The Metropolis shopping centre hosts a handicrafts exhibition.",
    "Rain in Mashhad flooded several streets.",
    "City service crews cleaned the streets overnight.",
    "The city's cultural festival was held with local artists.",
    "Tabriz Municipality started a plan to extend pedestrian streets.",
    "Isfahan firefighters contained a fire in the bazaar.",
    "Pilgrims to the Imam Reza shrine used free municipal services.",
    "A new public library opened on Vakilabad Boulevard.",
    "Construction of the new bridge over the Asian Highway reached its final stage.",
    "Citizens can file complaints by calling 137.",
    "Bus and metro fares change from the start of Farvardin.",
    "Waste separation at source is being rolled out in ten neighbourhoods.",
    "The head of District 8 announced improvements to streets around the shrine.",
    "World Environment Day was marked by planting saplings in schools.",
    "A bike sharing system was launched in the city centre.",
    "The Mashhad book fair opens on Monday.",
    "Municipal workers repaired the asphalt on Imam Khomeini Street.",
    "Heavy traffic is expected at the city entrances during the Nowruz holidays.",
    "The city council opposed an increase in renovation charges.",
    "The city's new 200-bed hospital is opening.",
    "Foreign tourists visited the Astan Quds museum.",
    "The lighting project for Shohada Square was completed.",
    "A new fire station is being built in the north of the city.",
    "The municipality has stored enough salt and sand for winter.",
)

# Marian's vocabularies start with these two; SentencePiece is trained with the same ids so that
# a piece's id is identical in the SentencePiece model and in vocab.yml.
_EOS, _UNK = "</s>", "<unk>"


def _train_sentencepiece(lines: Sequence[str], path: Path, vocab_size: int) -> list[str]:
    """Train a small unigram model into ``path`` and return its pieces in id order.

    Training from an iterator into memory keeps temporary paths out of the model file, so the
    same inputs give byte-identical models.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,  # a few dozen lines may not support the full vocabulary
        eos_id=0,
        unk_id=1,
        bos_id=-1,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return [str(processor.id_to_piece(i)) for i in range(int(processor.get_piece_size()))]


def _yaml_key(token: str) -> str:
    """Quote a token the way MarianConverter's hand-written vocab.yml reader unquotes it."""
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_vocab(tokens: Sequence[str], path: Path) -> None:
    path.write_text(
        "".join(f"{_yaml_key(t)}: {i}\n" for i, t in enumerate(tokens)), encoding="utf-8"
    )


def _marian_weights(
    rng: np.random.Generator, *, vocab: int, d_model: int, layers: int, ffn: int
) -> dict[str, np.ndarray]:
    """Random parameters under Marian's names (post-norm transformer, tied embeddings).

    Marian stores linear weights as ``[in, out]`` and biases and layer-norm vectors as
    ``[1, dim]``; the converter transposes and squeezes them.
    """

    def w(rows: int, cols: int) -> np.ndarray:
        return rng.normal(0.0, (2.0 / (rows + cols)) ** 0.5, size=(rows, cols)).astype(np.float32)

    def b(dim: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, size=(1, dim)).astype(np.float32)

    def attention(scope: str) -> dict[str, np.ndarray]:
        params = {f"{scope}_W{x}": w(d_model, d_model) for x in "qkvo"}
        params |= {f"{scope}_b{x}": b(d_model) for x in "qkvo"}
        params[f"{scope}_Wo_ln_scale"] = np.ones((1, d_model), np.float32)
        params[f"{scope}_Wo_ln_bias"] = np.zeros((1, d_model), np.float32)
        return params

    def feed_forward(scope: str) -> dict[str, np.ndarray]:
        return {
            f"{scope}_W1": w(d_model, ffn),
            f"{scope}_b1": b(ffn),
            f"{scope}_W2": w(ffn, d_model),
            f"{scope}_b2": b(d_model),
            f"{scope}_ffn_ln_scale": np.ones((1, d_model), np.float32),
            f"{scope}_ffn_ln_bias": np.zeros((1, d_model), np.float32),
        }

    # One embedding matrix shared by encoder, decoder and output projection, as in OPUS-MT.
    params: dict[str, np.ndarray] = {"Wemb": w(vocab, d_model)}
    for i in range(1, layers + 1):
        params |= attention(f"encoder_l{i}_self") | feed_forward(f"encoder_l{i}_ffn")
        params |= attention(f"decoder_l{i}_self") | attention(f"decoder_l{i}_context")
        params |= feed_forward(f"decoder_l{i}_ffn")
    params["decoder_ff_logit_out_b"] = b(vocab)
    return params


def _marian_config(*, d_model: int, layers: int, heads: int, ffn: int, vocab: int) -> bytes:
    """The ``special:model.yml`` entry: the options MarianConverter checks and reads."""
    config = {
        "type": "transformer",
        "dim-emb": d_model,
        "dim-vocabs": [vocab, vocab],
        "enc-depth": layers,
        "dec-depth": layers,
        "transformer-heads": heads,
        "transformer-dim-ffn": ffn,
        "transformer-ffn-activation": "swish",  # what OPUS-MT models use
        "transformer-preprocess": "",
        "transformer-postprocess": "dan",
        "transformer-postprocess-emb": "d",
        "transformer-postprocess-top": "",
        "transformer-decoder-autoreg": "self-attention",
        "transformer-no-projection": False,
        "transformer-guided-alignment-layer": "last",
        "tied-embeddings-all": True,
    }
    return yaml.safe_dump(config).encode("utf-8")


def build_tiny_marian_sources(
    dest: Path,
    *,
    d_model: int = 32,
    layers: int = 1,
    heads: int = 2,
    ffn: int = 64,
    vocab_lines: Sequence[str] | None = None,
    vocab_size: int = 300,
    pad_vocab_to: int | None = None,
    extra_tokens: Sequence[str] = (),
    seed: int = 1234,
) -> Path:
    """Write the unconverted Marian files into ``dest``, as an OPUS-MT release ships them.

    ``model.npz``, ``vocab.yml``, ``source.spm`` and ``target.spm``: what the model fetch CLI
    converts, so that it can be tested without a download. Options as for ``build_tiny_marian``.
    """
    if d_model % heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
    work = Path(dest)
    work.mkdir(parents=True, exist_ok=True)
    src_lines = list(vocab_lines) if vocab_lines is not None else list(PERSIAN_LINES)
    tgt_lines = list(vocab_lines) if vocab_lines is not None else list(ENGLISH_LINES)
    src_pieces = _train_sentencepiece(src_lines, work / "source.spm", vocab_size)
    tgt_pieces = _train_sentencepiece(tgt_lines, work / "target.spm", vocab_size)
    # A joint vocabulary as OPUS-MT has: </s> and <unk> first, then every piece of either side.
    tokens = list(dict.fromkeys([_EOS, _UNK, *src_pieces, *tgt_pieces, *extra_tokens]))
    if pad_vocab_to is not None:
        tokens += [f"<madeupword{i}>" for i in range(pad_vocab_to - len(tokens))]
    _write_vocab(tokens, work / "vocab.yml")

    rng = np.random.default_rng(seed)
    params = _marian_weights(rng, vocab=len(tokens), d_model=d_model, layers=layers, ffn=ffn)
    config = _marian_config(d_model=d_model, layers=layers, heads=heads, ffn=ffn, vocab=len(tokens))
    # Marian stores its YAML options as a NUL-terminated char array; the converter drops the
    # last byte.
    params["special:model.yml"] = np.frombuffer(config + b"\0", dtype=np.int8)
    np.savez(work / "model.npz", **params)  # type: ignore[arg-type]  # numpy stubs' overload
    return work


def build_tiny_marian(
    dest: Path,
    *,
    source: str = "fa",
    target: str = "en",
    d_model: int = 32,
    layers: int = 1,
    heads: int = 2,
    ffn: int = 64,
    vocab_lines: Sequence[str] | None = None,
    vocab_size: int = 300,
    pad_vocab_to: int | None = None,
    extra_tokens: Sequence[str] = (),
    quantization: str | None = None,
    seed: int = 1234,
) -> Path:
    """Build a random-weight Marian model directory at ``dest`` (replaced if it exists).

    ``vocab_lines`` replaces the built-in Persian and English training text for both
    SentencePiece models. ``pad_vocab_to`` fills the model vocabulary with unused tokens up to a
    real model's size (OPUS-MT: about 60k), which is what benchmarks need: the output projection
    dominates decoding cost. ``extra_tokens`` adds tokens such as ``__fa__``, so that the
    language-token handling of multilingual families can be exercised on a Marian network.
    The result loads with ``CTranslate2Engine(dest)`` as a real model would.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="tiny-marian-") as work_dir:
        work = build_tiny_marian_sources(
            Path(work_dir),
            d_model=d_model,
            layers=layers,
            heads=heads,
            ffn=ffn,
            vocab_lines=vocab_lines,
            vocab_size=vocab_size,
            pad_vocab_to=pad_vocab_to,
            extra_tokens=extra_tokens,
            seed=seed,
        )
        converter = ctranslate2.converters.MarianConverter(
            str(work / "model.npz"), [str(work / "vocab.yml")]
        )
        converter.convert(str(dest), quantization=quantization, force=True)
        for name in ("source.spm", "target.spm"):
            shutil.copyfile(work / name, dest / name)

    manifest = ModelManifest(
        name=f"tiny-marian-{source}-{target}",
        family="marian",
        version=f"random-seed{seed}-d{d_model}-l{layers}",
        licence="MIT (random weights, built locally; not a translation model)",
        source_url="local:tools/tiny_models.py",
        languages={"pairs": [(source, target)]},
        sentencepiece={"source": "source.spm", "target": "target.spm"},
        sha256=digest_files(dest),
    )
    manifest.save(dest)
    return dest


@dataclass(frozen=True)
class Shape:
    """A transformer's dimensions: ``layers`` encoder and as many decoder layers."""

    d_model: int
    layers: int
    heads: int
    ffn: int
    vocab: int


# OPUS-MT (Marian transformer-base): 6+6 layers, 512 wide, about 60k joint vocabulary.
OPUS_MT_BASE = Shape(d_model=512, layers=6, heads=8, ffn=2048, vocab=60_000)
# facebook/m2m100_418M: 12+12 layers, 1024 wide, 128,112 shared vocabulary.
M2M100_418M = Shape(d_model=1024, layers=12, heads=16, ffn=4096, vocab=128_112)

# M2M100's vocabulary starts with fairseq's four specials, in this order.
_M2M100_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
M2M100_MAX_POSITIONS = 1024


def _sinusoids(positions: int, dim: int, *, offset: int = 2) -> np.ndarray:
    """M2M100's sinusoidal position table (sines then cosines), from position ``offset`` on:
    Hugging Face counts positions from ``padding_idx + 1`` and the converter drops the rows
    before it."""
    half = dim // 2
    rate = np.exp(np.arange(half, dtype=np.float64) * -(math.log(10000.0) / (half - 1)))
    angles = np.arange(offset, offset + positions, dtype=np.float64)[:, None] * rate[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    if dim % 2:
        table = np.concatenate([table, np.zeros((positions, 1))], axis=1)
    return table.astype(np.float32)


def _m2m100_spec(
    rng: np.random.Generator,
    *,
    vocab: int,
    d_model: int,
    layers: int,
    heads: int,
    ffn: int,
    std: float,
) -> ctranslate2.specs.TransformerSpec:
    """A ``TransformerSpec`` laid out as ``TransformersConverter`` lays out M2M100, every
    variable set to random values (normal, standard deviation ``std``; layer norms at 1 and 0).

    Weights are ``[out, in]`` as in PyTorch; self-attention has one fused q/k/v projection,
    encoder-decoder attention a query projection and a fused k/v one.
    """
    from ctranslate2.specs import common_spec, transformer_spec

    spec = transformer_spec.TransformerSpec.from_config(
        (layers, layers),
        heads,
        pre_norm=True,
        activation=common_spec.Activation.RELU,
        layernorm_embedding=False,
    )

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def linear(layer: common_spec.LinearSpec, out_dim: int, in_dim: int) -> None:
        layer.weight = normal(out_dim, in_dim)
        layer.bias = normal(out_dim)

    def norm(layer: common_spec.LayerNormSpec) -> None:
        layer.gamma = np.ones(d_model, np.float32)
        layer.beta = np.zeros(d_model, np.float32)

    embeddings = normal(vocab, d_model)  # shared, and tied to the output projection
    positions = _sinusoids(M2M100_MAX_POSITIONS, d_model)
    for stack in (spec.encoder, spec.decoder):
        stack.scale_embeddings = math.sqrt(d_model)  # M2M100 scales embeddings
        stack.position_encodings.encodings = positions
        norm(stack.layer_norm)
    spec.encoder.embeddings[0].weight = embeddings
    spec.decoder.embeddings.weight = embeddings
    spec.decoder.projection.weight = embeddings
    for layer in spec.encoder.layer:
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)
        linear(layer.self_attention.linear[1], d_model, d_model)
        norm(layer.self_attention.layer_norm)
    for layer in spec.decoder.layer:
        linear(layer.self_attention.linear[0], 3 * d_model, d_model)
        linear(layer.self_attention.linear[1], d_model, d_model)
        norm(layer.self_attention.layer_norm)
        linear(layer.attention.linear[0], d_model, d_model)
        linear(layer.attention.linear[1], 2 * d_model, d_model)
        linear(layer.attention.linear[2], d_model, d_model)
        norm(layer.attention.layer_norm)
    for layer in (*spec.encoder.layer, *spec.decoder.layer):
        linear(layer.ffn.linear_0, ffn, d_model)
        linear(layer.ffn.linear_1, d_model, ffn)
        norm(layer.ffn.layer_norm)

    spec.config.bos_token = "<s>"
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.decoder_start_token = "</s>"  # M2M100's decoder_start_token_id is </s>
    spec.config.layer_norm_epsilon = 1e-5
    return spec


def build_tiny_m2m100(
    dest: Path,
    *,
    languages: Sequence[str] = ("fa", "en", "ar", "ru"),
    d_model: int = 32,
    layers: int = 1,
    heads: int = 2,
    ffn: int = 64,
    vocab_lines: Sequence[str] | None = None,
    vocab_size: int = 300,
    pad_vocab_to: int | None = None,
    weight_std: float = 0.02,
    quantization: str | None = None,
    seed: int = 1234,
) -> Path:
    """Build a random-weight M2M100-layout model directory at ``dest`` (replaced if it exists).

    One SentencePiece model (``sentencepiece.bpe.model``, as M2M100 ships it) is trained on
    ``vocab_lines`` (default: the built-in Persian and English lines); the shared vocabulary is
    M2M100's: ``<s> <pad> </s> <unk>``, the pieces, a ``__xx__`` token per language, then
    ``madeupwordN`` fillers up to ``pad_vocab_to`` (M2M100-418M: 128,112). ``weight_std`` keeps
    activations small so that decoding stays finite. The manifest says family ``m2m100``, so
    ``CTranslate2Engine(dest)`` adds the language tokens exactly as for the real model.
    """
    if d_model % heads:
        raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
    dest = Path(dest)
    lines = list(vocab_lines) if vocab_lines is not None else [*PERSIAN_LINES, *ENGLISH_LINES]
    with tempfile.TemporaryDirectory(prefix="tiny-m2m100-") as work_dir:
        spm_path = Path(work_dir) / "sentencepiece.bpe.model"
        pieces = _train_sentencepiece(lines, spm_path, vocab_size)
        language_tokens = [f"__{lang}__" for lang in languages]
        tokens = list(dict.fromkeys([*_M2M100_SPECIALS, *pieces, *language_tokens]))
        if pad_vocab_to is not None:
            tokens += [f"madeupword{i}" for i in range(pad_vocab_to - len(tokens))]

        rng = np.random.default_rng(seed)
        spec = _m2m100_spec(
            rng,
            vocab=len(tokens),
            d_model=d_model,
            layers=layers,
            heads=heads,
            ffn=ffn,
            std=weight_std,
        )
        spec.register_source_vocabulary(tokens)
        spec.register_target_vocabulary(tokens)
        spec.validate()
        spec.optimize(quantization=quantization)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        spec.save(str(dest))
        shutil.copyfile(spm_path, dest / spm_path.name)

    manifest = ModelManifest(
        name="tiny-m2m100",
        family="m2m100",
        version=f"random-seed{seed}-d{d_model}-l{layers}-v{len(tokens)}",
        licence="MIT (random weights, built locally; not a translation model)",
        source_url="local:tools/tiny_models.py",
        languages=list(languages),
        sentencepiece=spm_path.name,
        sha256=digest_files(dest),
    )
    manifest.save(dest)
    return dest
