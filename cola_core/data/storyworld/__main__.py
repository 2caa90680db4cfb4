"""Benchmark the storyworld corpus: ``python -m cola_core.data.storyworld [num_docs]``."""

from __future__ import annotations

import logging
import sys
import time

from cola_core.data.storyworld.generator import iter_stories
from cola_core.data.storyworld.parsing import compiled_index
from cola_core.data.storyworld.validator import validate_story

logger = logging.getLogger("cola_core.data.storyworld")


def benchmark(num_docs: int = 20000) -> dict[str, float]:
    """Time generation and validation of ``num_docs`` stories; returns rates in stories/s."""
    t0 = time.perf_counter()
    texts = [story.text for story in iter_stories(num_docs, seed=0)]
    gen_rate = num_docs / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    compiled_index()
    compile_s = time.perf_counter() - t0
    n_val = min(num_docs, 2000)
    t0 = time.perf_counter()
    valid = sum(validate_story(t).valid for t in texts[:n_val])
    val_rate = n_val / (time.perf_counter() - t0)
    logger.info(
        "generation: %.0f stories/s (%d stories, %d words)", gen_rate, num_docs, sum(len(t.split()) for t in texts)
    )
    logger.info(
        "validation: %.0f stories/s after %.2f s of template compilation; %d/%d valid",
        val_rate,
        compile_s,
        valid,
        n_val,
    )
    return {"generate_per_s": gen_rate, "validate_per_s": val_rate, "compile_s": compile_s}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
