"""Timing and machine facts shared by every benchmark part.

`repeat` warms a callable up, times it several times and reports the median and the spread, so one
noisy sample on a shared machine does not decide a figure. `gemm_peak` measures the fp32
matrix-multiply rate of this machine in the same run, so throughputs can be stated as a fraction of
what the hardware does on the one operation transformers are made of.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds per call over `repeats` timed calls (after `warmup` untimed ones)."""

    median: float
    min: float
    max: float
    spread: float
    """(max - min) / median: 0.05 means the samples lie within 5 % of the median."""
    repeats: int
    warmup: int
    samples: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()} | {
            "samples": [round(s, 6) for s in self.samples]
        }


def timing_of(samples: list[float], warmup: int = 0) -> Timing:
    """Median, min, max and relative spread of measured seconds."""
    med = statistics.median(samples)
    return Timing(
        median=med,
        min=min(samples),
        max=max(samples),
        spread=(max(samples) - min(samples)) / med if med else 0.0,
        repeats=len(samples),
        warmup=warmup,
        samples=list(samples),
    )


def repeat(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> Timing:
    """Call `fn` `warmup` times untimed, then `repeats` times timed."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return timing_of(samples, warmup)


def gemm_peak(n: int = 2048, repeats: int = 7) -> dict[str, Any]:
    """fp32 FLOP/s of an n x n x n matrix multiply on this process's threads (median of `repeats`)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    out = torch.empty(n, n)
    t = repeat(lambda: torch.mm(a, b, out=out), repeats=repeats, warmup=2)
    return {"n": n, "flops_per_second": 2.0 * n**3 / t.median, "timing": t.as_dict()}


def machine() -> dict[str, Any]:
    """Cores, torch threads, BLAS / parallel backend and the platform this run measured."""
    config = torch.__config__.show()
    blas = next(
        (line.split("BLAS_INFO=", 1)[1].split(",")[0] for line in config.splitlines() if "BLAS_INFO=" in line),
        "unknown",
    )
    parallel = torch.__config__.parallel_info().splitlines()
    backend = next((line.split(":", 1)[1].strip() for line in parallel if "parallel backend" in line), "unknown")
    return {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "blas": blas,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "parallel_backend": backend,
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return platform.processor() or "unknown"
