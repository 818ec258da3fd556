"""Cleaning at snapshot time: secrets, personal data, duplicates, empty and short text.

Each filter counts what it removed and why; the counts go into the manifest under "cleaning".
Secrets are found by detect-secrets (its regex detectors for API keys, tokens, private keys and
`password = ...` style keywords; its entropy detectors are left out: they flag ordinary prose),
phone numbers by phonenumbers (libphonenumber's matcher), e-mail addresses by one pattern.
A secret or (with "drop") personal data in a prompt removes the whole comparison; in a response,
that response, and with it every pair it takes part in.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError

PERSONAL_DATA = ("keep", "mask", "drop")
DEDUPE = ("off", "exact", "near")
NEAR_DUPLICATE_JACCARD = 0.8  # word 3-gram overlap above which two answers say the same thing
PHONE_REGION = "US"  # numbers without a +country prefix are read as US numbers; +prefixed ones anywhere
MAX_MIN_LENGTH = 100_000

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
# IPPublicDetector flags addresses, not credentials; entropy detectors flag plain prose.
_SKIPPED_DETECTORS = ("HighEntropyString", "IPPublicDetector")


@dataclass(frozen=True)
class CleaningParams:
    """Which filters run; every one is off by default, so an export without them is unchanged."""

    drop_secrets: bool = False
    personal_data: str = "keep"
    dedupe: str = "off"
    drop_empty: bool = False
    min_length: int = 0

    @property
    def enabled(self) -> bool:
        return self.drop_secrets or self.personal_data != "keep" or self.dedupe != "off" or self.drop_empty or self.min_length > 0


def _flag(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "on", "1", "yes", "false", "off", "0", "no"):
        return value.lower() in ("true", "on", "1", "yes")
    raise ValidationError({name: [f"must be true or false; got {value!r}."]})


def cleaning_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the cleaning parameters of an export dict; raise ValidationError naming the field."""
    personal = data.get("personal_data") or "keep"
    if personal not in PERSONAL_DATA:
        raise ValidationError({"personal_data": [f"must be one of {', '.join(PERSONAL_DATA)}; got {personal!r}."]})
    dedupe = data.get("dedupe") or "off"
    if dedupe not in DEDUPE:
        raise ValidationError({"dedupe": [f"must be one of {', '.join(DEDUPE)}; got {dedupe!r}."]})
    raw = data.get("min_length") or 0
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        min_length = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"min_length": [f"must be a whole number of characters; got {raw!r}."]}) from None
    if not 0 <= min_length <= MAX_MIN_LENGTH:
        raise ValidationError({"min_length": [f"must be between 0 and {MAX_MIN_LENGTH}; got {min_length}."]})
    return {"drop_secrets": _flag(data, "drop_secrets"), "personal_data": personal, "dedupe": dedupe,
            "drop_empty": _flag(data, "drop_empty"), "min_length": min_length}


def _detector_config() -> dict[str, Any]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    names = sorted({cls.__name__ for cls in get_mapping_from_secret_type_to_class().values()})
    return {"plugins_used": [{"name": n} for n in names if not any(s in n for s in _SKIPPED_DETECTORS)], "filters_used": []}


@contextlib.contextmanager
def secret_detectors() -> Iterator[None]:
    """Configure detect-secrets for the duration of a build (its settings are process-global)."""
    from detect_secrets.settings import transient_settings

    with transient_settings(_detector_config()):
        yield


def find_secrets(text: str) -> list[str]:
    """Return the kinds of secret detect-secrets finds in text (call inside secret_detectors())."""
    from detect_secrets.core.scan import scan_line

    kinds: set[str] = set()
    for line in text.splitlines():
        if line.strip():
            kinds.update(secret.type for secret in scan_line(line))
    return sorted(kinds)


def find_personal_data(text: str) -> Counter:
    """Count e-mail addresses and phone numbers in text."""
    import phonenumbers

    found: Counter = Counter()
    found["email"] = len(EMAIL_RE.findall(text))
    found["phone"] = sum(1 for _ in phonenumbers.PhoneNumberMatcher(text, PHONE_REGION))
    return +found


def mask_personal_data(text: str) -> tuple[str, Counter]:
    """Replace e-mail addresses and phone numbers with placeholders; return the text and the counts."""
    import phonenumbers

    counts: Counter = Counter()
    text, counts["email"] = EMAIL_RE.subn(EMAIL_MASK, text)
    matches = list(phonenumbers.PhoneNumberMatcher(text, PHONE_REGION))
    for match in reversed(matches):
        text = text[: match.start] + PHONE_MASK + text[match.end:]
    counts["phone"] = len(matches)
    return text, +counts


def normalized(text: str) -> str:
    """Text as duplicate checks see it: NFKC, casefolded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingles(text: str) -> frozenset[tuple[str, ...]]:
    """Word 3-grams of normalized text (the words themselves for shorter text)."""
    words = normalized(text).split()
    if len(words) < 3:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i:i + 3]) for i in range(len(words) - 2))


def near_duplicates(a: frozenset, b: frozenset) -> bool:
    """Jaccard overlap of two shingle sets at or above NEAR_DUPLICATE_JACCARD."""
    union = len(a | b)
    return bool(union) and len(a & b) / union >= NEAR_DUPLICATE_JACCARD


def text_key(*parts: str) -> str:
    """A short digest of normalized texts (the duplicate check across the export keeps only these)."""
    return hashlib.blake2b("\x00".join(normalized(p) for p in parts).encode(), digest_size=16).hexdigest()


@dataclass
class CleaningReport:
    """What each filter removed or masked, by reason."""

    comparisons: Counter = field(default_factory=Counter)
    responses: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    masked: Counter = field(default_factory=Counter)

    def as_dict(self, params: CleaningParams) -> dict[str, Any]:
        return {
            "settings": {"drop_secrets": params.drop_secrets, "personal_data": params.personal_data,
                         "dedupe": params.dedupe, "drop_empty": params.drop_empty, "min_length": params.min_length},
            "removed": {name: dict(sorted(getattr(self, name).items())) for name in ("comparisons", "responses", "rows")},
            "masked": dict(sorted(self.masked.items())),
        }


def cleaning_params(params: Any) -> CleaningParams:
    """The cleaning settings of an ExportParams (its fields of the same names)."""
    return CleaningParams(drop_secrets=params.drop_secrets, personal_data=params.personal_data, dedupe=params.dedupe,
                          drop_empty=params.drop_empty, min_length=params.min_length)


class Cleaner:
    """Apply the cleaning filters to one export's comparisons, counting every removal by reason."""

    def __init__(self, params: CleaningParams) -> None:
        self.params = params
        self.report = CleaningReport()
        self.removed: set[int] = set()  # response ids a filter took out (their pairs go with them)
        self.secret_kinds: Counter = Counter()
        self._seen_rows: set[str] = set()

    @contextlib.contextmanager
    def session(self) -> Iterator[Cleaner]:
        """Hold the secret detectors' settings for the whole build (set up once, not per text)."""
        with secret_detectors() if self.params.drop_secrets else contextlib.nullcontext():
            yield self

    def _secret(self, text: str) -> str | None:
        if not self.params.drop_secrets:
            return None
        kinds = find_secrets(text)
        self.secret_kinds.update(kinds)
        return "secret" if kinds else None

    def _personal(self, text: str) -> tuple[str, str | None]:
        """Return (text, reason to drop or None), masking when the manager chose "mask"."""
        mode = self.params.personal_data
        if mode == "mask":
            text, counts = mask_personal_data(text)
            self.report.masked.update(counts)
            return text, None
        if mode == "drop" and find_personal_data(text):
            return text, "personal_data"
        return text, None

    def prompt(self, messages: list) -> list | None:
        """Return the prompt's messages cleaned (masked), or None when the comparison must go."""
        out = []
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str):
                out.append(message)
                continue
            reason = self._secret(content)
            content, dropped = self._personal(content)
            if reason or dropped:
                self.report.comparisons[reason or dropped] += 1
                return None
            out.append({**message, "content": content})
        return out

    def _response_problem(self, text: str) -> tuple[str, str | None]:
        if self.params.drop_empty and not text.strip():
            return text, "empty"
        if self.params.min_length and len(text.strip()) < self.params.min_length:
            return text, "too_short"
        reason = self._secret(text)
        if reason:
            return text, reason
        return self._personal(text)

    def answer(self, text: str) -> str | None:
        """Return one answer (a demonstration) cleaned, or None when a filter removes it (counted)."""
        if not self.params.enabled:
            return text
        text, reason = self._response_problem(text)
        if reason:
            self.report.responses[reason] += 1
            return None
        return text

    def responses(self, responses: dict[int, str]) -> dict[int, str]:
        """Return the responses that pass, masked where asked; later (near-)duplicates of kept ones go."""
        kept: dict[int, str] = {}
        seen: list[tuple[str, frozenset]] = []
        for rid in sorted(responses):
            text, reason = self._response_problem(responses[rid])
            if reason is None and self.params.dedupe != "off":
                reason = self._duplicate_of(text, seen)
            if reason:
                self.report.responses[reason] += 1
                self.removed.add(rid)
                continue
            kept[rid] = text
        return kept

    def _duplicate_of(self, text: str, seen: list[tuple[str, frozenset]]) -> str | None:
        key, grams = normalized(text), shingles(text) if self.params.dedupe == "near" else frozenset()
        for other_key, other_grams in seen:
            if key == other_key:
                return "duplicate"
            if self.params.dedupe == "near" and near_duplicates(grams, other_grams):
                return "near_duplicate"
        seen.append((key, grams))
        return None

    def comparison(self, comp: Any) -> Any | None:
        """Return the comparison cleaned, or None when its prompt must go (nothing to clean: as is)."""
        if not self.params.enabled:
            return comp
        messages = self.prompt(comp.messages)
        if messages is None:
            return None
        return replace(comp, messages=messages, responses=self.responses(comp.responses))

    def duplicate_row(self, *texts: str) -> bool:
        """True (and counted) when an exported row with the same texts was already written."""
        if self.params.dedupe == "off":
            return False
        key = text_key(*texts)
        if key in self._seen_rows:
            self.report.rows["duplicate"] += 1
            return True
        self._seen_rows.add(key)
        return False

    def manifest(self) -> dict[str, Any] | None:
        """The manifest's "cleaning" entry (None when no filter was on)."""
        if not self.params.enabled:
            return None
        out = self.report.as_dict(self.params)
        out["secret_kinds"] = dict(sorted(self.secret_kinds.items()))
        return out
