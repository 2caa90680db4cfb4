"""`jobs.prepare_data`: source -> tokenizer -> packed Parquet shards + manifest, on Ray Data or in process.

Steps:

1. resolve the source (list files, fail early on bad input) and check the output is reachable;
2. train a byte-level BPE on a bounded sample spread over the source (or load `--tokenizer`);
3. plan read units of about one shard of tokens each (`cola_platform.data.units`);
4. process the units: `--engine ray` runs one Ray Data `map` task per `Unit` record (read, clean,
   tokenize, pack, write shards into the staging prefix); `--engine local` runs the same function
   in a loop in this process. Both produce the same shards;
5. commit (`cola_platform.data.staging`): compact validation leftovers, write the manifest last.

Progress lines (units, documents, tokens, tokens/s, ETA) are logged every `progress_seconds`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from cola_core.data.tokenizer import TextTokenizer, load_tokenizer, tokenizer_from_json, train_bpe
from cola_platform.data.manifest import FORMAT, SPLIT_RULE, Manifest
from cola_platform.data.sources import FileEntry, Source, resolve_files
from cola_platform.data.staging import PLAN, TOKENIZER, Staging, compact_validation
from cola_platform.data.unit_work import UnitOutcome, UnitResult, WorkSpec, process_unit, unit_row_fn
from cola_platform.data.units import Unit, iter_unit_docs, plan_units
from cola_platform.errors import UserError

log = logging.getLogger(__name__)
ENGINES = ("ray", "local")
MIN_UNITS = 8
"""Units to aim for at least (parallelism on small inputs); fixed so every engine and cluster plans alike."""
SAMPLE_UNITS = 64
"""The tokenizer sample is spread over up to this many units of the source."""


@dataclass
class PrepareConfig:
    """Everything `jobs.prepare_data` was asked to do."""

    source: Source
    out: str
    seq_len: int
    vocab_size: int = 4096
    val_fraction: float = 0.02
    shard_rows: int = 8192
    shard_mb: float = 0.0
    """When > 0: target shard size in MiB of int32 tokens (overrides `shard_rows`)."""
    tokenizer_path: str = ""
    tokenizer_sample_docs: int = 20000
    tokenizer_sample_mb: float = 64.0
    engine: str = "ray"
    ray_address: str = "auto"
    progress_seconds: float = 10.0

    def rows_per_shard(self) -> int:
        """Sequences per shard."""
        if self.shard_mb > 0:
            return max(1, int(self.shard_mb * 2**20 / (self.seq_len * 4)))
        return self.shard_rows

    def fingerprint(self, files: list[FileEntry]) -> str:
        """Hash of everything that decides the output; equal fingerprints may resume each other."""
        d = asdict(self)
        for k in ("out", "engine", "ray_address", "progress_seconds"):
            d.pop(k)
        if self.tokenizer_path:
            d["tokenizer_path"] = load_tokenizer(self.tokenizer_path).fingerprint()
        d["files"] = [(f.rel, f.size, f.limit, f.end) for f in files]
        d["format"] = FORMAT
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Progress:
    """Counts finished units and logs a progress line now and then."""

    total_units: int
    total_weight: int
    every: float
    done_units: int = 0
    done_weight: int = 0
    documents: int = 0
    tokens: int = 0
    start: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def restart(self) -> None:
        """Start the clock (after the engine is up)."""
        self.start = self.last = time.perf_counter()

    def update(self, result: UnitResult, weight: int) -> None:
        self.done_units += 1
        self.done_weight += weight
        self.documents += result.stats.get("documents", 0)
        self.tokens += result.stats.get("tokens", 0)
        now = time.perf_counter()
        if now - self.last >= self.every or self.done_units == self.total_units:
            self.last = now
            elapsed = now - self.start
            frac = self.done_weight / max(1, self.total_weight)
            eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
            log.info(
                "prepare: %d/%d units (%.0f%%), %d documents, %d tokens, %.0f tokens/s, ETA %.0f s",
                self.done_units,
                self.total_units,
                100 * frac,
                self.documents,
                self.tokens,
                self.tokens / max(elapsed, 1e-9),
                eta,
            )


def sample_texts(source: Source, files: list[FileEntry], max_docs: int, max_bytes: int) -> list[str]:
    """A bounded tokenizer-training sample, taken from the start of up to SAMPLE_UNITS spread-out units."""
    units = plan_units(source, files, target_bytes=1 << 62, docs_per_unit=1 << 62, min_units=SAMPLE_UNITS)
    step = max(1, len(units) // SAMPLE_UNITS)
    chosen = units[::step][:SAMPLE_UNITS]
    quota_docs, quota_bytes = max(1, max_docs // len(chosen)), max(1, max_bytes // len(chosen))
    texts: list[str] = []
    for unit in chosen:
        n, size = 0, 0
        for doc in iter_unit_docs(unit, source):
            texts.append(doc.text)
            n, size = n + 1, size + len(doc.text)
            if n >= quota_docs or size >= quota_bytes:
                break
    return texts


def get_tokenizer(cfg: PrepareConfig, sample: list[str]) -> TextTokenizer:
    """Load `--tokenizer`, or train a BPE on the sample."""
    if cfg.tokenizer_path:
        return load_tokenizer(cfg.tokenizer_path)
    if not sample:
        raise UserError(f"{cfg.source.uri} has no text to train a tokenizer on (all documents are empty)")
    log.info("training a %d-token BPE on %d sample documents", cfg.vocab_size, len(sample))
    tok = train_bpe(sample, cfg.vocab_size)
    if tok.vocab_size < cfg.vocab_size:
        log.warning(
            "the BPE has %d tokens, not the %d asked for: the %d sample documents hold no more merges "
            "(the manifest records %d)",
            tok.vocab_size,
            cfg.vocab_size,
            len(sample),
            tok.vocab_size,
        )
    return tok


def plan(cfg: PrepareConfig, files: list[FileEntry], tok: TextTokenizer, sample: list[str]) -> list[Unit]:
    """Units of about one shard of tokens each, sized from the sample's tokens per document / byte."""
    ids = tok.encode_batch(sample[:2000]) if sample else []
    tokens = sum(len(x) + 1 for x in ids)
    tokens_per_doc = tokens / len(ids) if ids else 256.0
    bytes_per_token = sum(len(t.encode()) for t in sample[: len(ids)]) / tokens if tokens else 4.0
    unit_tokens = cfg.rows_per_shard() * cfg.seq_len
    return plan_units(
        cfg.source,
        files,
        target_bytes=int(unit_tokens * bytes_per_token),
        docs_per_unit=max(1, int(unit_tokens / tokens_per_doc)),
        min_units=MIN_UNITS,
    )


def _start(cfg: PrepareConfig, staging: Staging, files: list[FileEntry], fingerprint: str):
    """(tokenizer, units, results of finished units): resumed from staging, or a fresh start."""
    saved = staging.resume_plan(fingerprint)
    if saved is not None:
        tok = tokenizer_from_json(staging.read_text(TOKENIZER))
        units = [Unit.from_json(u) for u in saved["units"]]
        done = {i: r for i, r in staging.done_results().items() if i < len(units)}
        log.info("resuming %s: %d of %d units already done", staging.uri, len(done), len(units))
        return tok, units, done
    staging.reset()
    max_docs = cfg.tokenizer_sample_docs if not cfg.tokenizer_path else min(cfg.tokenizer_sample_docs, 2000)
    sample = sample_texts(cfg.source, files, max_docs, int(cfg.tokenizer_sample_mb * 2**20))
    tok = get_tokenizer(cfg, sample)
    units = plan(cfg, files, tok, sample)
    staging.write_text(TOKENIZER, tok.to_json())
    staging.write_text(PLAN, json.dumps({"fingerprint": fingerprint, "units": [u.to_json() for u in units]}))
    return tok, units, {}


def run_units_local(
    units: list[Unit],
    cfg: PrepareConfig,
    tok: TextTokenizer,
    spec: WorkSpec,
    on_result: Callable[[UnitResult], None],
    on_start: Callable[[], None] = lambda: None,
) -> None:
    """The in-process engine: units one after the other."""
    on_start()
    for unit in units:
        on_result(process_unit(unit, cfg.source, tok, spec))


def run_units_ray(
    units: list[Unit],
    cfg: PrepareConfig,
    tok: TextTokenizer,
    spec: WorkSpec,
    on_result: Callable[[UnitResult], None],
    on_start: Callable[[], None] = lambda: None,
) -> None:
    """The Ray Data engine: the units as rows of `Unit` records, one `map` task (one CPU) each; outcomes
    stream back as units finish. The first unit whose input is bad stops the run with its own message."""
    import ray

    from cola_platform.data.ray_env import ensure_ray

    started = ensure_ray(cfg.ray_address, dashboard=False, log_to_driver=False)
    on_start()
    rows = None
    ctx = ray.data.DataContext.get_current()
    bars, ctx.enable_progress_bars = ctx.enable_progress_bars, False  # our own progress lines instead
    try:
        ds = ray.data.from_items([{"unit": u} for u in units], override_num_blocks=len(units)).map(
            unit_row_fn,  # type: ignore[arg-type]  # Ray types a UDF as one-argument; fn_kwargs fills the rest
            num_cpus=1,
            fn_kwargs={"source": cfg.source, "tokenizer_json": tok.to_json(), "spec": spec},
        )
        rows = iter(ds.iter_rows())
        for row in rows:
            outcome: UnitOutcome = row["outcome"]
            if outcome.error:
                raise UserError(outcome.error)
            assert outcome.result is not None
            on_result(outcome.result)
    finally:
        if rows is not None and hasattr(rows, "close"):
            rows.close()  # stops the execution and cancels tasks still running
        ctx.enable_progress_bars = bars
        if started:
            ray.shutdown()


def build_manifest(
    cfg: PrepareConfig, tok: TextTokenizer, staging: Staging, results: list[UnitResult], seconds: float
) -> Manifest:
    """Compact validation leftovers and assemble the manifest from the unit results."""
    stats: dict[str, Any] = {}  # summed unit counts, then the run's figures (`engine` is a string)
    for r in results:
        for k, v in r.stats.items():
            stats[k] = stats.get(k, 0) + v
    if not stats.get("documents"):
        raise UserError(f"{cfg.source.uri} has no text: all {int(stats.get('dropped_empty', 0))} documents are empty")
    train = [s for r in results for s in r.shards if s.split == "train"]
    if not train:
        raise UserError(
            f"{cfg.source.describe()} gave too little text ({int(stats['documents'])} documents) "
            f"for one {cfg.seq_len}-token training sequence"
        )
    shards = train + compact_validation(staging, results, cfg.seq_len, cfg.rows_per_shard())
    stats.update(
        seconds=round(seconds, 2),
        engine=cfg.engine,
        units=len(results),
        unit_seconds=round(sum(r.seconds for r in results), 2),
    )
    split = {
        "val_fraction": cfg.val_fraction,
        "rule": SPLIT_RULE,
        "documents": {
            "train": int(stats.pop("train_documents", 0)),
            "validation": int(stats.pop("validation_documents", 0)),
        },
    }
    return Manifest(
        seq_len=cfg.seq_len,
        vocab_size=tok.vocab_size,
        tokenizer_hash=tok.fingerprint(),
        special_tokens={"eos": tok.eos_id, "pad": tok.pad_id, "mask": tok.mask_id},
        source=cfg.source.describe(),
        shards=shards,
        num_documents=int(stats["documents"]),
        tokenizer=TOKENIZER,
        stats=stats,
        split=split,
    )


def prepare(cfg: PrepareConfig) -> Manifest:
    """Run the whole preparation; returns the committed manifest (see the module docstring)."""
    if cfg.engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}")
    start = time.perf_counter()
    files = resolve_files(cfg.source)
    staging = Staging(cfg.out)
    staging.check_reachable()
    fingerprint = cfg.fingerprint(files)
    try:
        tok, units, done = _start(cfg, staging, files, fingerprint)
        todo = [u for u in units if u.index not in done]
        results = dict(done)
        weights = {u.index: u.weight for u in units}
        progress = Progress(
            len(units),
            sum(weights.values()),
            cfg.progress_seconds,
            done_units=len(done),
            done_weight=sum(weights[i] for i in done),
        )

        def on_result(r: UnitResult) -> None:
            results[r.unit] = r
            progress.update(r, weights[r.unit])

        spec = WorkSpec(staging.uri, cfg.seq_len, cfg.rows_per_shard(), cfg.val_fraction)
        log.info("%s engine: %d units (%d to do) from %s", cfg.engine, len(units), len(todo), cfg.source.describe())
        if todo:
            engine = run_units_ray if cfg.engine == "ray" else run_units_local
            engine(todo, cfg, tok, spec, on_result, on_start=progress.restart)
        ordered = [results[u.index] for u in units]
        manifest = build_manifest(cfg, tok, staging, ordered, time.perf_counter() - start)
        staging.commit(manifest)
    except UserError:
        staging.wipe()  # bad input: nothing in OUT, no staging (on S3 a task Ray Data is still cancelling may
        raise  # land one object in OUT.partial; the next start resets the staging prefix before anything else)
    except BaseException:
        log.error("preparation stopped; finished units are kept in %s: re-run the same command to resume", staging.uri)
        raise
    log.info(
        "prepared %d sequences (%d tokens) from %d documents into %s in %.1f s",
        manifest.num_sequences,
        manifest.num_tokens,
        manifest.num_documents,
        staging.out,
        time.perf_counter() - start,
    )
    return manifest


__all__ = ["PrepareConfig", "prepare"]
