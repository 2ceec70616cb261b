"""Restore the zero-width non-joiners (ZWNJ, U+200C) that scraping lost from Persian text.

Pages copied as plain text often lose every ZWNJ: "می‌رسد" arrives as "میرسد" and
"بین‌المللی" as "بینالمللی". Both readers and the translation model see a different word. This
module puts the ZWNJ back where the orthography of the Academy of Persian Language and Literature
(دستور خط فارسی) requires it, and nowhere else: a wrong split ("می‌دان" for "میدان") is worse
than a missed one, so every rule needs positive evidence, a known stem or a known word, never
just the letters a word starts or ends with.

Rules (docs/zwnj.md gives the sources and the measured precision and recall):

* ``می``/``نمی`` before a verb: always separate (Academy). Only when the rest of the word is a
  known present stem with a present ending or a known past stem with a past ending, so
  ``میدان``, ``میزان``, ``میلیون`` never match. ``می شود`` (a space instead) gets the ZWNJ too.
* ``تر``/``ترین``: always separate (Academy) except ``بهتر، بیشتر، کمتر، کهتر، مهتر``; after
  a known adjective, ``ه`` word or participle (not ``دفتر``, ``کیلومتر``, ``دکترین``).
* Plural ``ها`` (and ``های``, ``هایی``, ``هایش`` ...): the Academy allows joined or separate,
  except after ``ه`` where it must be separate; news agencies separate it. Separated after
  ``ه``, after a known noun, and after the abstract-noun endings ``ی`` and ``یت`` (stems of
  four letters or more: not ``علیها``); ``همکاری ها`` gets the ZWNJ too. Where two readings
  meet (``حرفهای``: ``حرف‌های`` or ``حرفه‌ای``) nothing is inserted.
* ``ای``/``ی`` after a silent ``ه`` (``خانه‌ای``), and ``اند/ام/ای/ایم/اید/است`` after a past
  participle (``گفته‌اند``): after a listed ``ه`` word or participle only.
* A curated list of compounds of city news (``اطلاع‌رسانی``, ``راه‌اندازی``), also when a
  space stands for the ZWNJ (``بین المللی``).
* Never after a letter that does not join to the left (``ا د ذ ر ز ژ و``): there a ZWNJ is
  invisible, and ``کشورها`` is correct as written.

Every function is pure, linear in the text (one regex pass, a memoised lookup per word),
idempotent and never raises. :func:`shared.persian.normalise` applies it, so any change to
what it returns must bump ``NORMALISER_VERSION`` (translation memory keys on it).
"""

from __future__ import annotations

import re
from functools import lru_cache

ZWNJ = "\u200c"

# Letters of Persian words (and the marks that stay inside them after normalisation).
_LETTERS = "\u0621-\u063a\u0641-\u0655\u067e\u0686\u0698\u06a9\u06af\u06c0\u06cc"
_WORD = re.compile(f"[{_LETTERS}]+")
_NON_JOINING = frozenset("اآأإءدذرزژوؤۀة")
_MARKS = frozenset(chr(c) for c in range(0x064B, 0x0656))


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


# Present stems (the form before the person ending: گوید = گوی + د).
_PRESENT = _words("""
    شو کن رس گوی خواه توان دار ده آی رو باش گیر بین یاب ساز پرداز افزای فزای گرد شناس نویس خوان
    دان زن بر آور کوش پذیر گذار گذر ران مان نشین نشان رسان فرست پوش بند گشای کش خور فروش خر پرس
    جوی ریز سوز افت انداز اندیش آموز بخش ترس تاب چین خیز دو شمار کاه گریز گزین نگر نمای آفرین
    آرای آزمای ارز افروز پیمای چرخ خند خواب سنج شکن طلب فهم گرای لرز شنو کار سپار کاو نوش ورز
    هراس انگیز ایست انجام آمیز افکن بار پز جوش جنگ پیوند شتاب تاز گستر نگار پندار گمار کوب فشار
    زدای فرمای چسب آویز پاش گردان رهان جهان رقص ماند گذران خشک مال بال دوان چرخان ترسان خوابان
    لغز سرای ستای
""")
# Past stems (the third person singular past: کرد, رسید).
_PAST = _words("""
    شد کرد رسید گفت خواست توانست داشت داد آمد رفت بود گرفت دید یافت ساخت پرداخت افزود گشت شناخت
    نوشت خواند دانست زد برد آورد کوشید پذیرفت گذاشت گذشت راند ماند نشست نشاند رساند فرستاد پوشید
    بست گشود کشید خورد فروخت خرید پرسید جست ریخت سوخت افتاد انداخت اندیشید آموخت بخشید ترسید
    تابید چید دوید شمرد کاست گریخت گزید نگریست نمود آفرید آراست آزمود ارزید پیمود چرخید خندید
    خوابید سنجید شکست طلبید فهمید گرایید بایست لرزید شنید کاشت سپرد زیست جنگید چسبید پاشید پیوست
    شتافت افروخت باخت تاخت ربود زدود سرود فشرد کوبید گسترد گماشت نگاشت پنداشت ایستاد انجامید
    آمیخت افکند بارید پخت جوشید گرداند رهاند جهاند رقصید گذراند خشکید مالید بالید دواند شتابید
    لغزید سرایید ستود ورزید نوشید کاوید
""")
_PRESENT_ENDINGS = ("", "م", "ی", "د", "یم", "ید", "ند")  # "" only after توان (می‌توان)
_PAST_ENDINGS = ("", "م", "ی", "یم", "ید", "ند")
_PREVERBS = ("", "بر", "در", "فرا", "باز", "ور", "وا")
# Verb forms that are also common other words of news: میدانی is "field" (بازدید میدانی).
_NOT_VERBS = _words("میدانی میرانی میگوی")


def _verb_forms() -> frozenset[str]:
    forms = {s + e for s in _PRESENT for e in _PRESENT_ENDINGS if e} | {"توان", "بایستی"}
    forms |= {s + e for s in _PAST for e in _PAST_ENDINGS}
    return frozenset(forms)


_VERB_FORMS = _verb_forms()
_PARTICIPLES = frozenset(
    neg + s + "ه" for s in _PAST for neg in ("", "ن") if not s.endswith(("ا", "و"))
)
_PERFECT_ENDINGS = ("اند", "ایم", "اید", "ام", "ای", "است")
# "شده است" is standard with a space; "ای" alone is also the vocative ("ای ایران").
_SPACED_PERFECT = frozenset(("اند", "ایم", "اید", "ام"))

# Words ending in a silent ه (the vowel e) that news writes with ای/ی after them.
_SILENT_H = _words("""
    لایه چندلایه فرامنطقه چندرسانه ثانیه سرمایه پایه حاشیه همسایه اولیه نقلیه ناحیه قضیه نشریه
    بیانیه هدیه تغذیه تهیه توصیه کلیه اطلاعیه سهمیه روحیه نظریه مایه سایه آیه گریه کرایه ذخیره
    جمعیه امنیه تسویه تصفیه تجزیه تخلیه ترجمه یارانه ویژه عرصه رشته غرفه حوزه خانه برنامه منطقه
    رسانه حرفه هسته جلسه مدرسه گونه نمونه زمینه هزینه اندازه پروژه نامه روزنامه سامانه شبکه
    کمیته مجموعه موسسه مؤسسه دوره لحظه جاده شیوه وظیفه عقیده بودجه شیشه سلیقه مرحله زنجیره
    ماهواره رایانه توسعه قاره کتابخانه دانشکده گلخانه مقاله مسئله مساله مسأله ترانه افسانه نشانه
    جامعه فاصله حادثه واقعه مصاحبه معامله مطالعه مقایسه نقشه قطعه مرتبه مدیره اداره سازه کارخانه
    کوچه محله میوه سفره خیمه قلعه تپه دهکده آینده گذشته نماینده ماده ساده تازه گسترده پیچیده
    آماده زنده تنه دسته وزارتخانه دانشنامه بخشنامه هفته چهره شماره ستاره دوباره اشاره کناره چاره
    پاره استخاره نظاره کره جزیره دایره ذره نقطه جمله حمله قبیله وسیله پرونده تبصره مصوبه تجربه
    محاسبه پنجره منظومه
""")
# Nouns ending in a letter that joins, written with ‌ها in the style news agencies use.
_NOUNS = _words("""
    کمک هیئت وام غرفه شهرک رستوران استراتژی دفتر سازمان کتاب شب روز سال زبان مکان جوان استان
    شهرستان دانشگاه دولت ملت شرکت فعالیت ظرفیت فرصت اولویت سیاست حرکت خدمات زیرساخت مسئول مسوول
    مسئولان نهاد بنیاد حزب گام اقدام پیام نظام مردم کارشناس کارمند کارکنان دانشجو طرح رویداد جشن
    باغ پارک خیابان میدان بیمارستان درمانگاه مسجد بوستان ساختمان آپارتمان اتوبوس قطار خودرو
    ایستگاه فرودگاه بندر پل تونل اتفاق تصمیم تحریم نشست همایش جشنواره نمایشگاه مسابقه بازی تیم
    باشگاه هتل سفر گردشگر مهمان زائر قرارداد تفاهم سند گزارش پژوهش آزمایش روش نقش بخش گرایش
    آموزش پرورش نمایش پوشش افزایش کاهش تلاش ارزش سرمایه‌گذار سفیر کنسول مقام دیدار سخن موضوع
    مشکل چالش مسیر حقوق اصل قانون لایحه دستگاه سامان شهروند مدیر معاون کشاورز کارگر محصول سهم
    کالا جنس ارز صنعت معدن کارگاه آب برق گاز نفت خط لوله امکان تجهیزات منبع هدف مرز ارتباط پیوند
    عکس فیلم کلاس درس مدرس معلم دانش‌آموز کودک نوجوان زن خانواده
""")
_ADJECTIVES = _words("""
    بزرگ کوچک مهم سریع آسان سخت قوی ضعیف جدی بلند کوتاه پایین زیاد ارزان گران نزدیک دور گرم سرد
    تمیز سبز روشن تاریک سنگین سبک عمیق وسیع مناسب مطلوب موفق فعال جدید قدیم قدیمی ساده تازه
    گسترده پیچیده آماده دقیق شدید مشکل خطرناک امن ایمن کامل خوب بد زیبا شلوغ ثروتمند فقیر
    پیشرفته عادلانه ملموس محکم مستحکم سالم پاک آلوده ارزشمند مؤثر موثر کارآمد جذاب مشهور معروف
    شفاف راحت محبوب پرجمعیت بزرگوار جوان پیر گرامی عزیز نیرومند بالا جالب فراوان کارا حساس کهن
    اصلی مدرن پررنگ تنگ
""")
_NOT_COMPARATIVE = _words("بهتر بیشتر کمتر کهتر مهتر بهترین بیشترین کمترین کهترین مهترین")
_PLURALS = ("هایشان", "هایتان", "هایمان", "هایی", "هایش", "هایم", "هایت", "های", "ها")
_COMPARATIVES = ("ترین", "تر")

# Compounds of city news, as scraped (no ZWNJ) -> as written. A space in the key is a space
# that stood for the ZWNJ ("بین المللی").
_COMPOUND_LIST = """
    بین‌المللی بین‌الملل اطلاع‌رسانی راه‌اندازی پیش‌بینی بهره‌برداری سرمایه‌گذاری سرمایه‌گذار
    سرمایه‌گذاران برنامه‌ریزی تصمیم‌گیری تصمیم‌گیران نظام‌نامه اساس‌نامه اشتراک‌گذاری
    به‌روزرسانی دست‌اندرکاران دست‌اندرکار هم‌اکنون حمل‌ونقل هماهنگ‌کننده مصرف‌کننده مصرف‌کنندگان
    تولیدکننده شرکت‌کننده شرکت‌کنندگان برگزارکننده پیش‌نویس پیش‌شماره پیش‌فروش پیش‌ثبت‌نام
    ثبت‌نام بازدیدکننده بازدیدکنندگان گفت‌وگو گفت‌وشنود شست‌وشو جست‌وجو رفت‌وآمد نقل‌وانتقال
    هیئت‌مدیره کم‌درآمد خوش‌آمدگویی زیست‌محیطی نرم‌افزار سخت‌افزار نرم‌افزاری بین‌شهری درون‌شهری
    برون‌شهری شبانه‌روز شبانه‌روزی ساخت‌وساز پیاده‌روی پیاده‌رو دوچرخه‌سواری بهینه‌سازی
    مقاوم‌سازی فرهنگ‌سازی ظرفیت‌سازی زمینه‌سازی شفاف‌سازی یکپارچه‌سازی آماده‌سازی روان‌سازی
    تصویب‌نامه توافق‌نامه موافقت‌نامه پایان‌نامه وصیت‌نامه معرفی‌نامه گواهی‌نامه هفته‌نامه
    ماهنامه فصل‌نامه دوهفته‌نامه روزنامه‌نگار روزنامه‌نگاران روزنامه‌نگاری خبرنگار بهره‌مند
    بهره‌مندی بهره‌وری بهره‌گیری بهره‌بردار کاربرد گردهم‌آیی گردهمایی سیاست‌گذاری سیاست‌گذار
    قانون‌گذاری قانون‌گذار ارزش‌گذاری هدف‌گذاری نام‌گذاری تأثیرگذار تاثیرگذار اثرگذار
    سرمایه‌پذیر مسئولیت‌پذیری امکان‌پذیر انعطاف‌پذیر آسیب‌پذیر آسیب‌پذیری جمع‌آوری جمع‌بندی
    دسته‌بندی طبقه‌بندی رتبه‌بندی زمان‌بندی اولویت‌بندی بسته‌بندی پهنه‌بندی وقت‌شناسی آب‌وهوا
    آب‌وهوایی بین‌راهی هم‌افزایی هم‌اندیشی پایتخت‌نشین تک‌تک کارت‌خوان حمل‌ونقلی ریل‌گذاری
    خط‌کشی لوله‌کشی آسفالت‌ریزی بتن‌ریزی آتش‌نشانی آتش‌نشان آتش‌سوزی زلزله‌زده سیل‌زده جنگ‌زده
    بحران‌زده پسماندها تصفیه‌خانه کتاب‌خوانی کتاب‌فروشی دانش‌بنیان دانش‌آموزان دانش‌آموز
    دانش‌آموخته دانش‌آموختگان فارغ‌التحصیل فارغ‌التحصیلان علی‌رغم علی‌الخصوص فی‌مابین
    مابه‌التفاوت حق‌الزحمه ذی‌نفع ذی‌نفعان ذی‌ربط ذی‌صلاح
"""


def _compound_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for written in _COMPOUND_LIST.split():
        written = written.strip(ZWNJ)
        if ZWNJ in written:
            table[written.replace(ZWNJ, "")] = written
            if written.count(ZWNJ) == 1 and not written.startswith("به" + ZWNJ):
                table[written.replace(ZWNJ, " ")] = written  # not "به روز": "to the day"
    return table


_COMPOUNDS = _compound_table()


def _joins(stem: str) -> bool:
    """Whether a ZWNJ after ``stem`` is visible: its last letter joins to the left."""
    last = stem.rstrip("".join(_MARKS))[-1:]
    return bool(last) and last not in _NON_JOINING


def _glue(head: str, tail: str) -> str:
    """``head`` and ``tail`` as one word: with a ZWNJ where it shows, else joined."""
    return head + ZWNJ + tail if _joins(head) else head + tail


def _as_verb(word: str) -> str | None:
    if "می" not in word[:6] or word in _NOT_VERBS:
        return None
    for preverb in _PREVERBS:
        if not word.startswith(preverb):
            continue
        rest = word[len(preverb) :]
        for prefix in ("نمی", "می"):
            if rest.startswith(prefix) and rest[len(prefix) :] in _VERB_FORMS:
                return preverb + prefix + ZWNJ + rest[len(prefix) :]
    return None


def _split_suffix(word: str) -> tuple[str, str] | None:
    """(stem, suffix) when ``word`` is a known stem with a suffix that is written apart."""
    for suffix in _PLURALS:
        stem = word[: -len(suffix)]
        if not word.endswith(suffix) or len(stem) < 2:
            continue
        evidence = _plural_evidence(stem)
        if evidence and suffix == "های" and stem + "ه" in _SILENT_H:
            if evidence == "known":
                return None  # حرفهای: حرف‌های (words) or حرفه‌ای (professional)
            break  # ثانیهای: ثانیه‌ای, not ثانی‌های
        if evidence:
            return stem, suffix
    for suffix in _COMPARATIVES:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and word not in _NOT_COMPARATIVE and _comparative_stem(stem):
            return stem, suffix
    for suffix in _PERFECT_ENDINGS:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and (stem in _PARTICIPLES or stem in _SILENT_H):
            return stem, suffix
    if word.endswith("ی") and word[:-1] in _SILENT_H:
        return word[:-1], "ی"
    return None


def _plural_evidence(stem: str) -> str:
    """Why ``stem`` takes a separate plural: "known" (a listed word or a final ه), "shape"
    (a final ی or یت, the endings of abstract nouns) or "" (no evidence: leave it)."""
    if _known(stem) or stem in _NOUNS or (stem.endswith("ه") and _joins(stem)):
        return "known"
    if not _joins(stem):
        return ""
    if stem.endswith("یت") and len(stem) >= 4:
        return "shape"  # Arabic abstract nouns: فعالیت، ظرفیت، محدودیت
    if stem.endswith("ی") and len(stem) >= 4:
        return "shape"  # not علیها, فیها (Arabic "on her", "in it")
    return ""


def _comparative_stem(stem: str) -> bool:
    return stem in _ADJECTIVES or stem in _SILENT_H or stem in _PARTICIPLES


def _known(stem: str) -> bool:
    """A stem that is a listed word (``اطلاعرسانی`` in ``اطلاعرسانیها``)."""
    return stem in _COMPOUNDS or stem in _SILENT_H


@lru_cache(maxsize=65_536)
def restore_word(word: str) -> str:
    """One word (letters only, no ZWNJ or space) with its lost ZWNJs restored."""
    if word in _COMPOUNDS:
        return _COMPOUNDS[word]
    verb = _as_verb(word)
    if verb is not None:
        return verb
    split = _split_suffix(word)
    if split is None:
        return word
    stem, suffix = split
    return _glue(_restore_parts(stem), suffix)


def _restore_parts(text: str) -> str:
    return ZWNJ.join(restore_word(part) for part in text.split(ZWNJ))


def _pair(first: str, second: str) -> bool:
    """Whether the space between two restored words stands for a lost ZWNJ."""
    if first in ("می", "نمی"):
        return second in _VERB_FORMS and (first + second) not in _NOT_VERBS
    if second in _PLURALS or second == "ترین":
        return _joins(first) and len(first) >= 2
    if second in _SPACED_PERFECT:
        return first in _PARTICIPLES
    if second == "ای":
        return first in _SILENT_H or first in _PARTICIPLES
    return f"{first} {second}" in _COMPOUNDS


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: set[str]) -> str:
    """A regex matching any of ``words``, as a trie: a word start that matches none of them is
    refused at its first letter, where an alternation would try every word."""
    tree: _Trie = {}
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: _Trie) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(tree)


# Only the pairs _pair() can accept reach Python: a first word that starts a spaced form
# (می, نمی, بین of بین المللی) or a second word that is a suffix (ها, ترین, اند).
_HEADS = {k.split(" ")[0] for k in _COMPOUNDS if " " in k} | {"می", "نمی"}
_TAILS = {*_PLURALS, "ترین", *_SPACED_PERFECT, "ای"}
_PAIR = re.compile(
    f"(?<![{_LETTERS}])((?:{_trie_pattern(_HEADS)})(?![{_LETTERS}])"
    f"|[{_LETTERS}]+(?= (?:{_trie_pattern(_TAILS)})(?![{_LETTERS}]))) (?=([{_LETTERS}]+))"
)


def _join_pair(m: re.Match[str]) -> str:
    first, second = m.group(1), m.group(2)
    return first + ZWNJ if _pair(first, second) else m.group()


def restore_zwnj(text: str) -> str:
    """``text`` with the ZWNJs Persian orthography requires put back where they were lost.

    Idempotent, never raises, linear in the length of the text. Only inserts ZWNJs (between
    two letters of one word) or turns a space into one; never changes a letter.
    """
    text = _WORD.sub(lambda m: restore_word(m.group()), text)
    if " " not in text:
        return text
    return _PAIR.sub(_join_pair, text)
