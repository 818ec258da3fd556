"""Write one export into a directory: stream, filter, aggregate, split, and write every file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from labeling.exports.aggregation import Pair, RankingRow, aggregate, best_response
from labeling.exports.cleaning import Cleaner, cleaning_params
from labeling.exports.demos import (
    DemoRow,
    author_ranking,
    by_comparison,
    demonstration_pairs,
    kto_labels,
    write_sft_demonstrations,
)
from labeling.exports.filters import (
    Scope,
    annotator_pseudonym,
    capped_prompt_ids,
    comparisons_in_scope,
    rankings_filtered,
    tags_match,
)
from labeling.exports.formats import (
    WRITE_BUFFER,
    CsvSink,
    DictRows,
    JsonlSink,
    PreferenceBlock,
    clean_messages,
    prompt_text,
    save_to_disk,
    schema_for,
    sha256_file,
    timestamp,
)
from labeling.exports.mix import mix_allowed
from labeling.exports.parquet import ParquetSink
from labeling.exports.split import SPLITS, split_of
from labeling.exports.stream import ComparisonData, comparison_stream, prompt_stream
from labeling.models import Prompt

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 1000


@dataclass
class BuildResult:
    """What an export wrote and why rows were left out (becomes the manifest)."""

    rows: Counter = field(default_factory=Counter)
    dropped_rankings: Counter = field(default_factory=Counter)
    dropped_pairs: Counter = field(default_factory=Counter)
    comparisons: int = 0
    rankings: int = 0
    annotators: set[str] = field(default_factory=set)
    policy_versions: set[str] = field(default_factory=set)
    cleaning: dict[str, Any] | None = None  # what each cleaning filter removed, by reason
    mix: dict[str, Any] | None = None  # the tag mix: target, before and after
    demonstrations: int = 0  # accepted demonstrations written (sft rows, or pairs as the best answer)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def open_sinks(directory: Path, *, fmt: str, kind: str, schema: pa.Schema) -> list[JsonlSink | CsvSink | ParquetSink]:
    """Return the row sinks for a format; JSONL is always written so training has one input format.

    The save_to_disk folder is made from the finished JSONL afterwards.
    """
    sinks: list[JsonlSink | CsvSink | ParquetSink] = [JsonlSink(directory)]
    if fmt == "csv":
        sinks.append(CsvSink(directory, schema))
    elif fmt == "parquet":
        sinks.append(ParquetSink(directory, schema, kind=kind))
    return sinks


class _Writer:
    """Fan rows out to the format sinks and the provenance id files, counting as it goes."""

    def __init__(self, directory: Path, scope: Scope, result: BuildResult) -> None:
        params = scope.params
        self.sinks = open_sinks(directory, fmt=params.format, kind=params.kind, schema=schema_for(params.kind, params.style))
        (directory / "ids").mkdir()
        names = ("prompt_ids",) if params.kind == "prompt" else ("comparison_ids", "ranking_ids")
        self.ids = {n: open(directory / "ids" / f"{n}.txt", "w", encoding="ascii", newline="\n", buffering=WRITE_BUFFER) for n in names}
        self.result = result
        self.cleaner = Cleaner(cleaning_params(params))
        self.exclude_flags = frozenset(params.exclude_flags)
        self.sft_source = params.sft_source
        self.demos: dict[int, list[DemoRow]] = {}  # accepted demonstrations by comparison (preference kind)
        self._names: dict[tuple[int, ...], str] = {}
        self._last_time: datetime | None = None
        self._last_text = ""

    def pseudonyms(self, user_ids: tuple[int, ...]) -> str:
        """Return the comma-joined pseudonyms of the annotators behind a row."""
        names = self._names.get(user_ids)
        if names is None:
            each = sorted(annotator_pseudonym(u) for u in user_ids)
            self.result.annotators.update(each)
            names = self._names[user_ids] = ",".join(each)
        return names

    def timestamp(self, value: datetime) -> str:
        """Format a time, remembering the last one: a ranking's rows share it."""
        if value != self._last_time:
            self._last_time, self._last_text = value, timestamp(value)
        return self._last_text

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        for sink in self.sinks:
            sink.write(split, rows)
        self.result.rows[split] += len(rows)

    def record(self, name: str, ids: list[int]) -> None:
        self.ids[name].write("\n".join(map(str, ids)) + "\n" if ids else "")

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        for handle in self.ids.values():
            handle.close()


def _provenance(writer: _Writer, comp: ComparisonData, ranking_ids: tuple[int, ...], annotators: tuple[int, ...], created) -> dict:
    return {
        "annotator": writer.pseudonyms(annotators),
        "comparison_id": comp.id,
        "created_at": writer.timestamp(created),
        "policy_version": comp.policy_version,
        "prompt_id": comp.prompt_id,
        "ranking_ids": list(ranking_ids),
    }


def _preference_rows(writer: _Writer, comp: ComparisonData, pairs: list[Pair], style: str) -> tuple[PreferenceBlock, set[int]]:
    """Return the comparison's pairs as one block of rows, and the ranking ids behind them."""
    messages = clean_messages(comp.messages)
    block = PreferenceBlock(
        prompt=prompt_text(messages) if style == "standard" else messages, responses=comp.responses, style=style,
        comparison_id=comp.id, prompt_id=comp.prompt_id, policy_version=comp.policy_version,
    )
    ranking_ids: set[int] = set()
    responses = comp.responses
    for pair in pairs:
        if responses.get(pair.chosen_id) is None or responses.get(pair.rejected_id) is None:
            cleaned = {pair.chosen_id, pair.rejected_id} & writer.cleaner.removed
            writer.result.dropped_pairs["cleaned_response" if cleaned else "missing_response"] += 1
            continue
        if writer.cleaner.duplicate_row(comp.prompt_hash, responses[pair.chosen_id], responses[pair.rejected_id]):
            continue
        block.add(writer.pseudonyms(pair.annotator_ids), pair.chosen_id, pair.rejected_id, writer.timestamp(pair.created_at), pair.margin, pair.ranking_ids)
        ranking_ids.update(pair.ranking_ids)
    for demo in writer.demos.get(comp.id, ()):
        ranking_ids.update(_demonstration_rows(writer, comp, block, demo))
    return block, ranking_ids


def _demonstration_rows(writer: _Writer, comp: ComparisonData, block: PreferenceBlock, demo: DemoRow) -> set[int]:
    """Add an accepted demonstration to the block as the best answer of its author's ranking."""
    ranking = author_ranking(comp.rankings, demo.author_id)
    if ranking is None or (ranking[3] and not writer.exclude_flags.isdisjoint(ranking[3])):
        return set()
    text = writer.cleaner.answer(demo.text)
    if text is None:
        return set()
    comp.responses[demo.response_id] = text  # the block reads texts from this dict when it is written
    for chosen, rejected, margin in demonstration_pairs(demo, ranking, comp.responses):
        block.add(writer.pseudonyms((demo.author_id,)), chosen, rejected, writer.timestamp(ranking[4]), margin, (ranking[0],))
    writer.result.demonstrations += 1
    return {ranking[0]}


def _sft_rows(writer: _Writer, comp: ComparisonData, rankings: list[RankingRow], method: str) -> tuple[DictRows, set[int]]:
    if writer.sft_source == "demonstrations":
        return DictRows([]), set()
    best = best_response(method, rankings)
    if best is not None and best in writer.cleaner.removed:
        writer.result.dropped_pairs["cleaned_response"] += 1
        return DictRows([]), set()
    if best is None or best not in comp.responses:
        writer.result.dropped_pairs["tied_or_missing_top"] += 1
        return DictRows([]), set()
    if writer.cleaner.duplicate_row(comp.prompt_hash, comp.responses[best]):
        return DictRows([]), set()
    ids = tuple(sorted(r.id for r in rankings))
    row = _provenance(writer, comp, ids, tuple(sorted({r.annotator_id for r in rankings})), max(r.created_at for r in rankings))
    row.update(messages=[*clean_messages(comp.messages), {"content": comp.responses[best], "role": "assistant"}], response_id=best)
    return DictRows([row]), set(ids)


def _kto_rows(writer: _Writer, comp: ComparisonData) -> tuple[DictRows, set[int]]:
    """One row per judged response of each kept ranking (kto_labels says which)."""
    messages, rows, ids = clean_messages(comp.messages), [], set()
    for rid, annotator_id, order, flags, created_at in comp.rankings:
        if flags and not writer.exclude_flags.isdisjoint(flags):
            continue
        row = _provenance(writer, comp, (rid,), (annotator_id,), created_at)
        for response_id, label in kto_labels(order, flags, comp.responses):
            rows.append({**row, "prompt": messages, "completion": [{"content": comp.responses[response_id], "role": "assistant"}],
                         "label": label, "response_id": response_id})
            ids.add(rid)
    return DictRows(rows), ids


def _comparison_rows(writer: _Writer, comp: ComparisonData, scope: Scope, allowed: Selection) -> tuple[PreferenceBlock | DictRows | None, set[int]]:
    """Filter one comparison and return its rows (few: at most K*(K-1)/2 per ranking) and their ranking ids."""
    params, result = scope.params, writer.result
    if not tags_match(comp.tags, params.tags):
        result.dropped_rankings["tag_filter"] += len(comp.rankings)
        return None, set()
    for reason, ids in allowed:
        if comp.prompt_id not in ids:
            result.dropped_rankings[reason] += len(comp.rankings)
            return None, set()
    rankings, flagged = comp.kept_rankings(params.exclude_flags)
    if flagged:
        result.dropped_rankings["flagged"] += flagged
    cleaned = writer.cleaner.comparison(comp)
    if cleaned is None:
        result.dropped_rankings["cleaned_prompt"] += len(rankings)
        return None, set()
    comp = cleaned
    if params.kind == "sft":
        return _sft_rows(writer, comp, rankings, params.aggregation)
    if params.kind == "kto":
        return _kto_rows(writer, comp)
    pairs = aggregate(params.aggregation, rankings, comp.prefs, pairs=params.pairs, min_agreement=params.min_agreement, dropped=result.dropped_pairs)
    return _preference_rows(writer, comp, pairs, params.style)


Selection = list[tuple[str, set[int]]]  # (reason a prompt outside the set is dropped, the prompt ids kept)


def _selection(scope: Scope, candidates, result: BuildResult) -> Selection:  # type: ignore[no-untyped-def]
    """The prompt sets an export keeps: the cap per tag, then the tag mix on what the cap left."""
    params, selection = scope.params, []
    capped = capped_prompt_ids(scope, candidates) if params.cap_per_tag else None
    if capped is not None:
        selection.append(("cap_per_tag", capped))
    if params.tag_mix:
        mixed, result.mix = mix_allowed(scope, candidates, capped)
        selection.append(("tag_mix", mixed))
    return selection


def _build_comparisons(writer: _Writer, scope: Scope, progress: Progress | None) -> None:
    params, result = scope.params, writer.result
    rankings_filtered(scope, counts=result.dropped_rankings)
    allowed: Selection = []
    if params.cap_per_tag or params.tag_mix:
        candidates = Prompt.objects.filter(project=scope.project, comparisons__in=comparisons_in_scope(scope).values("id")).distinct()
        allowed = _selection(scope, candidates, result)
    if params.kind == "preference":
        writer.demos = by_comparison(scope.project)
    total = comparisons_in_scope(scope).count() if progress else 0
    for done, comp in enumerate(comparison_stream(scope), 1):
        rows, ids = _comparison_rows(writer, comp, scope, allowed)
        if rows:
            split = split_of(comp.prompt_hash, seed=params.seed, test_fraction=params.test_fraction)
            writer.write(split, rows)
            ranking_ids = sorted(ids)
            writer.record("comparison_ids", [comp.id])
            writer.record("ranking_ids", ranking_ids)
            result.comparisons += 1
            result.rankings += len(ranking_ids)
            result.policy_versions.add(comp.policy_version)
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, total)
    if params.kind == "sft" and params.sft_source != "rankings":
        result.demonstrations = write_sft_demonstrations(writer, scope, allowed)
    if progress:
        progress(total, total)


def prompt_row(*, pid: int, messages: Any, tags: Any, reference: str, index: int, split: str, data_source: str, ability: str) -> dict[str, Any]:
    """Return one prompt row: verl's columns, OpenRLHF's `datasource`, and PrefLoop's own.

    With a reference answer the row is scored by rule (`style: rule`, the reference as
    `ground_truth`, which training/jobs/verl_reward.py compares with); without one, by a
    reward model.
    """
    reference = reference or ""
    return {
        "ability": ability,
        "data_source": data_source,
        "datasource": data_source,
        "extra_info": {"index": index, "prompt_id": pid, "split": split, "tags": sorted({str(t) for t in tags or ()})},
        "prompt": clean_messages(messages),
        "prompt_id": pid,
        "reference": reference,
        "reward_model": {"ground_truth": reference, "style": "rule" if reference.strip() else "model"},
    }


def _build_prompts(writer: _Writer, scope: Scope, progress: Progress | None) -> None:
    params, result = scope.params, writer.result
    data_source = params.data_source or f"prefloop/{scope.project.slug}"
    ability = params.ability or "chat"
    allowed = _selection(scope, Prompt.objects.filter(project=scope.project), result)
    total = Prompt.objects.filter(project=scope.project).count() if progress else 0
    for done, (pid, content_hash, messages, tags, reference) in enumerate(prompt_stream(scope), 1):
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, total)
        if not tags_match(tags, params.tags):
            result.dropped_pairs["tag_filter"] += 1
            continue
        dropped_by = next((reason for reason, ids in allowed if pid not in ids), None)
        if dropped_by:
            result.dropped_pairs[dropped_by] += 1
            continue
        messages = writer.cleaner.prompt(messages) if writer.cleaner.params.enabled else messages
        if messages is None:
            result.dropped_pairs["cleaned_prompt"] += 1
            continue
        split = split_of(content_hash, seed=params.seed, test_fraction=params.test_fraction)
        row = prompt_row(pid=pid, messages=messages, tags=tags, reference=reference, index=result.rows[split], split=split, data_source=data_source, ability=ability)
        writer.write(split, DictRows([row]))
        writer.record("prompt_ids", [pid])
    if progress:
        progress(total, total)


def build_export(scope: Scope, directory: Path, *, progress: Progress | None = None) -> BuildResult:
    """Write all files of an export into `directory` (which must exist and be empty)."""
    result = BuildResult()
    writer = _Writer(directory, scope, result)
    try:
        with writer.cleaner.session():
            if scope.params.kind == "prompt":
                _build_prompts(writer, scope, progress)
            else:
                _build_comparisons(writer, scope, progress)
    finally:
        writer.close()
    result.cleaning = writer.cleaner.manifest()
    if result.total and scope.params.format == "save_to_disk":
        save_to_disk(directory, schema=schema_for(scope.params.kind, scope.params.style), counts=dict(result.rows))
    return result


def file_hashes(directory: Path) -> dict[str, str]:
    """Return {relative path: sha256} of every file below the directory, sorted, manifest excluded."""
    hashes = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name == "manifest.json":
            continue
        hashes[name] = sha256_file(path)
    return hashes


def manifest_for(scope: Scope, result: BuildResult, files: dict[str, str]) -> dict[str, Any]:
    """Return the manifest: parameters, counts, what was dropped and why, what went in."""
    return {
        "format_version": 1,
        "project": scope.project.slug,
        "kind": scope.params.kind,
        "params": scope.params.as_dict(),
        "rows": {"total": result.total, **{s: result.rows[s] for s in SPLITS}},
        # A split without rows has no files at all (0-row files break datasets, verl and OpenRLHF).
        "empty_splits": [s for s in SPLITS if not result.rows[s]],
        **({"cleaning": result.cleaning} if result.cleaning is not None else {}),
        **({"mix": result.mix} if result.mix is not None else {}),
        "dropped": {"rankings": dict(sorted(result.dropped_rankings.items())), "rows": dict(sorted(result.dropped_pairs.items()))},
        "inputs": {
            "max_ranking_id": scope.max_ranking_id,
            "comparisons": result.comparisons,
            "demonstrations": result.demonstrations,
            "rankings": result.rankings,
            "annotators": sorted(result.annotators),
            "policy_versions": sorted(result.policy_versions),
            "id_files": sorted(name for name in files if name.startswith("ids/")),
        },
        "files": files,
    }
