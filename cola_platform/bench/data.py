"""Data benchmark (`python -m jobs.bench data`): tokenization and ingest throughput.

Measured on this machine's Ray instance (or the running cluster), each as tokens per second:

* `tokenize_only`: `TextTokenizer.encode_batch` over the corpus in this process (the Rust ceiling);
* `prepare_{local,ray}_jsonl`: the whole preparation from a pre-generated JSONL file (read, clean,
  tokenize, pack, write shards) with a fixed tokenizer, on each engine: isolates tokenization;
* `prepare_{local,ray}_storyworld`: the same from the storyworld generator (generation included);
* `ingest_ray_data`: `read_split_dataset` (checksums verified first, included) -> `iter_batches`
  (Arrow) into a consumer loop that builds each (B, L) array and sums it; `_warm`: a second pass
  without the checksum pass; `ingest_read_split`: the in-process `read_split` reader.

Ray start-up is excluded (Ray is initialised before the clocks start).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, cast

import numpy as np

from cola_core.data.tokenizer import train_bpe

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def _rate(tokens: int, seconds: float) -> dict[str, float]:
    return {
        "tokens": int(tokens),
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / max(seconds, 1e-9)),
    }


def _prepare(source: Any, out: Path, tokenizer: Path, engine: str, seq_len: int, ray_address: str) -> dict[str, Any]:
    from cola_platform.data.prepare import PrepareConfig, prepare

    cfg = PrepareConfig(
        source=source,
        out=str(out),
        seq_len=seq_len,
        tokenizer_path=str(tokenizer),
        engine=engine,
        ray_address=ray_address,
        shard_rows=2048,
        progress_seconds=30,
    )
    start = time.perf_counter()
    m = prepare(cfg)
    seconds = time.perf_counter() - start
    return {
        **_rate(int(m.stats["tokens"]), seconds),
        "documents": m.num_documents,
        "units": m.stats["units"],
        "sequences": m.num_sequences,
    }


def _consume(data: Path, batch_size: int) -> tuple[dict[str, Any], int]:
    """Stream the train split through the training reader (Ray Data, checksums checked) into a loop
    that builds the (B, L) LongTensor batches the workers get and sums them."""
    from cola_platform.data.manifest import read_manifest
    from cola_platform.data.ray_ingest import read_split_shards, tokens_collate_fn

    m = read_manifest(str(data))
    start = time.perf_counter()
    tokens, checksum = 0, 0
    ds = read_split_shards(str(data), m, "train")
    # the collate fn makes each batch a (B, L) LongTensor (Ray types batches as dicts of tensors)
    batches = cast(
        "Iterator[torch.Tensor]", ds.iter_torch_batches(batch_size=batch_size, collate_fn=tokens_collate_fn())
    )
    for batch in batches:
        tokens += batch.numel()
        checksum += int(batch.sum())
    return {**_rate(tokens, time.perf_counter() - start), "batch_size": batch_size}, checksum


def _ingest(data: Path, batch_size: int) -> dict[str, Any]:
    from cola_platform.data.manifest import read_manifest
    from cola_platform.data.shards import read_split

    cold, checksum = _consume(data, batch_size)
    warm, _ = _consume(data, batch_size)
    start = time.perf_counter()
    arr = read_split(str(data), read_manifest(str(data)), "train")
    local = _rate(arr.size, time.perf_counter() - start)
    assert int(arr.sum(dtype=np.int64)) == checksum, "Ray Data ingest and read_split disagree"
    return {"ingest_ray_data": cold, "ingest_ray_data_warm": warm, "ingest_read_split": local}


def bench_data(
    docs: int = 20000, seq_len: int = 128, vocab_size: int = 4096, ray_address: str = "auto", workdir: str | None = None
) -> dict[str, Any]:
    """Run the data benchmark on `docs` storyworld documents; returns the figures."""
    from cola_core.data.storyworld import iter_texts
    from cola_platform.data.ray_env import cluster_cpus, ensure_ray
    from cola_platform.data.sources import Source

    root = Path(workdir or tempfile.mkdtemp(prefix="cola-bench-data-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    texts = list(iter_texts(docs, seed=0))
    with open(root / "corpus.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    tok = train_bpe(texts[:5000], vocab_size)
    (root / "tokenizer.json").write_text(tok.to_json())
    start = time.perf_counter()
    n = sum(len(x) for i in range(0, len(texts), 512) for x in tok.encode_batch(texts[i : i + 512]))
    results: dict[str, Any] = {
        "documents": docs,
        "seq_len": seq_len,
        "vocab_size": tok.vocab_size,
        "tokenize_only": _rate(n, time.perf_counter() - start),
    }
    ensure_ray(ray_address, dashboard=False, log_to_driver=False)
    results["ray_cpus"] = cluster_cpus()
    jsonl, sw = Source(f"file:{root / 'corpus.jsonl'}"), Source("storyworld", num_docs=docs)
    for name, source in (("jsonl", jsonl), ("storyworld", sw)):
        for engine in ("local", "ray"):
            key = f"prepare_{engine}_{name}"
            results[key] = _prepare(source, root / key, root / "tokenizer.json", engine, seq_len, ray_address)
            log.info("%s: %.0f tokens/s", key, results[key]["tokens_per_second"])
    results.update(_ingest(root / "prepare_ray_jsonl", batch_size=256))
    results["workdir"] = str(root)
    return results
