"""Reading and checking import rows before anything is written.

A row is one of three kinds, told apart by its fields (after the column mapping, see
import_sources.py):
- a prompt: `prompt` (text or a chat list) or `messages` (a chat list ending with a user turn),
  optionally with K `responses` (a comparison);
- a dialogue (PrefLoop's SFT rows): `messages` ending with an assistant turn: the turns before
  it are the prompt, the final answer its reference (unless the row gives one);
- a preference pair (TRL / PrefLoop preference rows): `chosen` and `rejected` (texts or chat
  lists) with `prompt`, or conversations that share their prompt turns; it makes a
  2-response comparison, the file's label kept with each response.

Every problem is reported as {"line": n, "field": f, "message": m} so a manager can fix the
file in one pass; `line` is the 1-based line of the file (for CSV, the line the record starts
on; for rows given as a list, the 1-based index).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labeling.inputs import InputRefused, check_value, json_loads

ROLES = ("system", "user", "assistant")
MAX_TEXT_CHARS = 200_000
MAX_ID_CHARS = 200
MAX_TAGS = 50
MAX_TAG_CHARS = 100

Problem = dict[str, Any]


class RowError(ValueError):
    """One field of one row is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CleanRow:
    line: int
    messages: list[dict[str, str]]
    content_hash: str
    external_id: str
    tags: list[str]
    reference: str
    responses: list[tuple[str, str]] | None  # (text, model name)
    # Per response, what the file said about it (a preference row's {"label", "margin"}); stored with it.
    response_params: list[dict[str, Any]] | None = None
    completion: str = ""  # a dialogue's final assistant turn
    gold: int | None = None  # index of the known best response: a gold comparison


def prompt_content_hash(messages: list[dict[str, str]]) -> str:
    """Hash normalised chat messages; equal prompts get equal hashes within a project."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()


def responses_signature(texts: list[str]) -> str:
    """Hash a comparison's response texts in order, to recognise a re-imported comparison."""
    return hashlib.sha256(json.dumps(texts).encode()).hexdigest()


def _text(value: Any, field: str, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise RowError(field, "is empty")
        return ""
    if not isinstance(value, str):
        raise RowError(field, f"must be text, not {type(value).__name__}")
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        raise RowError(field, "is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise RowError(field, f"is longer than {MAX_TEXT_CHARS} characters")
    return text


def _json_value(value: Any, field: str) -> Any:
    try:
        return json_loads(value)
    except json.JSONDecodeError as exc:
        raise RowError(field, f"is not valid JSON ({exc.msg})") from exc
    except InputRefused as exc:
        raise RowError(field, exc.message) from exc


def _chat(value: Any, field: str = "messages") -> list[dict[str, str]]:
    """Check a chat list (or its JSON text, as CSV cells hold it); return role/content messages."""
    if isinstance(value, str):
        value = _json_value(value, field)
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        raise RowError(field, 'must be a non-empty list of {"role", "content"} objects')
    clean = []
    for n, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(f"{field}[{n}]", 'must be an object {"role", "content"}')
        role = message.get("role")
        if role not in ROLES:
            raise RowError(f"{field}[{n}].role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        clean.append({"role": role, "content": _text(message.get("content"), f"{field}[{n}].content")})
    return clean


def _ends_with_user(messages: list[dict[str, str]], field: str) -> list[dict[str, str]]:
    if messages[-1]["role"] != "user":
        raise RowError(field, "must end with a user message (the turn to respond to)")
    return messages


def _is_chat(value: Any) -> bool:
    """Say whether a value is a chat list, or the JSON text of one (a CSV cell)."""
    if isinstance(value, list | tuple):
        return True
    return isinstance(value, str) and value.lstrip().startswith("[{") and _is_json(value.strip())


def _messages(value: Any) -> tuple[list[dict[str, str]], str]:
    """Return (prompt turns, final assistant answer or "") of a `messages` chat."""
    chat = _chat(value)
    if chat[-1]["role"] == "assistant" and len(chat) > 1:
        return _ends_with_user(chat[:-1], "messages"), chat[-1]["content"]
    return _ends_with_user(chat, "messages"), ""


def _prompt(value: Any) -> list[dict[str, str]]:
    if _is_chat(value):
        return _ends_with_user(_chat(value, "prompt"), "prompt")
    return [{"role": "user", "content": _text(value, "prompt")}]


def _answer(value: Any, field: str) -> tuple[list[dict[str, str]], str]:
    """Return (turns before the answer, answer text) of a chosen/rejected value: text or a chat ending with the assistant."""
    if not _is_chat(value):
        return [], _text(value, field)
    chat = _chat(value, field)
    if chat[-1]["role"] != "assistant":
        raise RowError(field, "must end with the assistant's answer")
    return chat[:-1], chat[-1]["content"]


def _margin(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        margin = float(value)
    except (TypeError, ValueError):
        raise RowError("margin", f"must be a number, not {value!r}") from None
    if margin != margin or margin in (float("inf"), float("-inf")):
        raise RowError("margin", "must be a finite number")
    return margin


def _pair(row: dict[str, Any], k: int) -> tuple[list[dict[str, str]], list[tuple[str, str]], list[dict[str, Any]]]:
    """Return (prompt, responses, their labels) of a preference row."""
    if k != 2:
        raise RowError("chosen", f"a chosen/rejected pair makes a 2-response comparison, but this project has K={k}; import pairs into a K=2 project")
    if row.get("responses") not in (None, "", []):
        raise RowError("responses", "give either responses or chosen/rejected, not both")
    before_chosen, chosen = _answer(row.get("chosen"), "chosen")
    before_rejected, rejected = _answer(row.get("rejected"), "rejected")
    if row.get("prompt") not in (None, ""):
        prompt = _prompt(row["prompt"])
    elif before_chosen and before_chosen == before_rejected:
        prompt = _ends_with_user(before_chosen, "chosen")  # TRL's implicit prompt: the shared turns
    else:
        raise RowError("prompt", "is missing: a chosen/rejected row needs a prompt, or conversations sharing their prompt turns")
    margin = _margin(row.get("margin"))
    labels = [{"label": "chosen", "margin": margin}, {"label": "rejected", "margin": margin}]
    return prompt, [(chosen, ""), (rejected, "")], labels


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        stripped = value.strip()
        value = json_loads(stripped) if stripped.startswith("[") and _is_json(stripped) else stripped.split(",")
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise RowError("tags", "must be a list of strings or comma-separated text")
    tags = list(dict.fromkeys(t.strip() for t in value if t.strip()))
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS for t in tags):
        raise RowError("tags", f"at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")
    return tags


def _is_json(text: str) -> bool:
    try:
        json_loads(text)
    except (json.JSONDecodeError, InputRefused):
        return False
    return True


def _external_id(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError("id", "must be text or a whole number")
    text = str(value).strip()
    if len(text) > MAX_ID_CHARS:
        raise RowError("id", f"is longer than {MAX_ID_CHARS} characters")
    return text


def _response(item: Any, n: int) -> tuple[str, str]:
    if isinstance(item, dict):
        model = item.get("model") or ""
        if not isinstance(model, str):
            raise RowError(f"responses[{n}].model", "must be text")
        key = "text" if "text" in item or "content" not in item else "content"  # {"content", "role"} messages too
        return _text(item.get(key), f"responses[{n}].{key}"), model.strip()[:300]
    return _text(item, f"responses[{n}]"), ""


def _responses(value: Any, k: int) -> list[tuple[str, str]] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except json.JSONDecodeError as exc:
            raise RowError("responses", f"is not valid JSON ({exc.msg})") from exc
        except InputRefused as exc:
            raise RowError("responses", exc.message) from exc
    if not isinstance(value, list):
        raise RowError("responses", 'must be a list of texts or {"text", "model"} objects')
    if len(value) != k:
        raise RowError("responses", f"has {len(value)} responses; this project needs exactly {k} (K) or none")
    return [_response(item, n) for n, item in enumerate(value)]


def _gold(value: Any, responses: list[tuple[str, str]] | None) -> int | None:
    """Read `gold`: the 0-based index of the known best response, or that response's text."""
    if value in (None, ""):
        return None
    if responses is None:
        raise RowError("gold", "needs the row's responses: it names the best one")
    texts = [text for text, _ in responses]
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        if value not in texts:
            raise RowError("gold", "must be the index of a response (0 = first) or exactly one response's text")
        return texts.index(value)
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise RowError("gold", "must be the index of a response (0 = first) or its text") from None
    if isinstance(value, bool) or not 0 <= index < len(texts):
        raise RowError("gold", f"must be between 0 and {len(texts) - 1} (the index of the best response)")
    return index


def _checked(value: Any, field: str = "") -> None:
    """Refuse NUL, lone surrogates and out-of-range numbers anywhere in the value (the input gate)."""
    try:
        check_value(value, field)
    except InputRefused as exc:
        raise RowError(exc.field, exc.message) from exc


def clean_row(row: Any, line: int, k: int) -> CleanRow:
    """Check one parsed row and return it normalised; raise RowError naming the field."""
    if not isinstance(row, dict):
        raise RowError("row", f"must be an object, not {type(row).__name__}")
    _checked(row)
    clean = _clean_fields(row, line, k)
    # Fields given as JSON text inside a CSV cell decode only now: check what they decoded to.
    _checked(clean.messages, "messages")
    _checked(clean.responses, "responses")
    _checked(clean.tags, "tags")
    return clean


def _clean_fields(row: dict[str, Any], line: int, k: int) -> CleanRow:
    completion, params = "", None
    if row.get("chosen") not in (None, "") or row.get("rejected") not in (None, ""):
        if row.get("messages") not in (None, "", []):
            raise RowError("messages", "give either messages or chosen/rejected, not both")
        messages, responses, params = _pair(row, k)
    else:
        has_prompt = row.get("prompt") not in (None, "")
        has_messages = row.get("messages") not in (None, "", [])
        if has_prompt and has_messages:
            raise RowError("prompt", "give either prompt or messages, not both")
        if not has_prompt and not has_messages:
            raise RowError("prompt", "is missing: each row needs prompt (text or a chat list), messages, or chosen/rejected")
        messages, completion = _messages(row["messages"]) if has_messages else (_prompt(row["prompt"]), "")
        responses = _responses(row.get("responses"), k)
    return CleanRow(
        line=line,
        messages=messages,
        content_hash=prompt_content_hash(messages),
        external_id=_external_id(row.get("id")),
        tags=_tags(row.get("tags")),
        reference=_text(row.get("reference"), "reference", required=False) or completion,
        responses=responses,
        response_params=params,
        completion=completion,
        gold=_gold(row.get("gold"), responses),
    )


def parse_jsonl(text: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line; broken JSON raises RowError."""
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other "line breaks".
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json_loads(raw)
        except json.JSONDecodeError as exc:
            yield number, RowError("json", f"invalid JSON at line {number}, column {exc.colno}: {exc.msg}")
        except InputRefused as exc:
            yield number, RowError("json", f"line {number} {exc.message}")


def _csv_responses(record: dict[str, str]) -> list[dict[str, str]] | str | None:
    numbered = sorted(
        (int(key.split("_", 1)[1]), key) for key in record if key and key.startswith("response_") and key[9:].isdigit()
    )
    if not numbered:
        return record.get("responses")
    items = []
    for n, key in numbered:
        text = record.get(key) or ""
        if text.strip():
            items.append({"text": text, "model": record.get(f"model_{n}") or ""})
    return items


def parse_csv(text: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, row dict) per CSV record; a record may span lines (quoted newlines)."""
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        return
    # Which columns hold the prompt is the column mapping's business (import_sources.py).
    names = [(name or "").strip().lower() for name in reader.fieldnames]
    reader.fieldnames = names
    start = reader.line_num + 1
    try:
        for record in reader:
            if None in record:
                yield start, RowError("row", "has more values than the header has columns")
            elif any((v or "").strip() for v in record.values()):
                row: dict[str, Any] = {k: v for k, v in record.items() if not k.startswith(("response_", "model_"))}
                row["responses"] = _csv_responses(record)
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        yield reader.line_num, RowError("csv", f"cannot read CSV at line {reader.line_num}: {exc}")
