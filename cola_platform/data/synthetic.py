"""A seeded word-salad corpus, prepared in seconds: the data of platform tests and fault drills.

`synthetic_texts` gives documents with a little structure (a subject phrase repeated at the start and
the end), enough for a BPE tokenizer and a tiny model to learn something; `prepare_synthetic` packs
them into a prepared data directory (32-token sequences, ~1000 train and ~100 validation rows, 11
train shards with the defaults) without Ray.
"""

from __future__ import annotations

import random

from cola_platform.data.manifest import Manifest

WORDS = (
    "the a one cat dog bird fox sat ran hid saw ate found under over near big small red blue old new "
    "house tree river hill and then but so because"
).split()


def synthetic_texts(num_docs: int, seed: int = 0) -> list[str]:
    """Seeded word-salad documents with a little structure (repeated phrases), enough for BPE."""
    rng = random.Random(seed)
    docs = []
    for _ in range(num_docs):
        subject = rng.choice(WORDS[:6]) + " " + rng.choice(WORDS[3:9])
        words = [subject] + [rng.choice(WORDS) for _ in range(rng.randint(20, 60))] + [subject, "."]
        docs.append(" ".join(words))
    return docs


def prepare_synthetic(
    out: str,
    num_docs: int = 400,
    seq_len: int = 32,
    vocab_size: int = 300,
    shard_rows: int = 100,
    val_fraction: float = 0.1,
) -> Manifest:
    """Prepare `num_docs` synthetic documents into data directory `out` (in this process); its manifest."""
    from cola_platform.data.prepare_local import PrepareSpec, prepare_texts

    spec = PrepareSpec(
        out=out,
        seq_len=seq_len,
        vocab_size=vocab_size,
        source="synthetic(seed=0)",
        val_fraction=val_fraction,
        shard_rows=shard_rows,
    )
    return prepare_texts(spec, synthetic_texts(num_docs))
