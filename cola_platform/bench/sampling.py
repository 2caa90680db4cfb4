"""Sampling throughput of every family at matched parameters, and a pass-cost model that explains it.

For each sampler variant and batch size, `generate` of `new_tokens` tokens after equal-length random
prompts is timed (warm-up + repeats, median). Forward hooks on the networks count every pass and the
time spent inside it, so `wall_over_network` is the sampler's own overhead (1.0 = nothing but network
passes). EOS is an id the models never emit, so every call produces exactly `new_tokens` per prompt.

The pass-cost model times bare passes at a mid-generation cache length: an AR 1-token pass, the Cola
DiT pass over one block (both guidance branches when CFG is on, a finished block riding along on the
first step) and the VAE decoder pass over one block. It predicts Cola's time for `new_tokens` from
(blocks x (steps x DiT pass + decoder pass)) and AR's from (new_tokens x 1-token pass), so the
measured Cola/AR speed ratio can be checked against the prediction. On a memory-bound accelerator a
pass costs about the same whatever its token count (weights are read once per pass), so the same
counts with parameter bytes as the cost give the accelerator prediction.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, cast

import torch
from torch import Tensor, nn

from cola_core.config import Config
from cola_core.families.cola.masks import prefix_mask
from cola_core.presets import resolve_config
from cola_core.registry import get_family
from cola_platform.bench.measure import repeat

if TYPE_CHECKING:
    from cola_core.families.ar.model import ARModel
    from cola_core.families.cola.model import ColaModel
    from cola_core.nn.attention import KVCache

log = logging.getLogger(__name__)

VARIANTS: dict[str, dict[str, Any]] = {
    "ar": {},
    "llada": {},  # the config's default steps, block length and guidance
    "llada_cfg0": {"sampler.cfg": 0.0},
    "cola_steps8_cfg1": {"sampler.steps": 8, "sampler.cfg": 1.0},
    "cola_steps8_cfg4": {"sampler.steps": 8, "sampler.cfg": 4.0},
    "cola_steps16_cfg1": {"sampler.steps": 16, "sampler.cfg": 1.0},
    "cola_steps16_cfg4": {"sampler.steps": 16, "sampler.cfg": 4.0},
}
ONE_AT_A_TIME = ("ar", "llada", "cola_steps16_cfg4")
"""Also measured at the largest batch with `sampler.batch_size = 1`: what batching the prompts buys."""


class PassClock:
    """Forward hooks that count the passes of some networks and the seconds spent inside them."""

    def __init__(self, networks: dict[str, nn.Module]):
        self.passes = {name: 0 for name in networks}
        self.seconds = {name: 0.0 for name in networks}
        self._start: dict[str, float] = {}
        self._handles = []
        for name, net in networks.items():
            self._handles.append(net.register_forward_pre_hook(self._pre(name)))
            self._handles.append(net.register_forward_hook(self._post(name)))

    def _pre(self, name: str) -> Callable:
        def hook(module, args):
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Callable:
        def hook(module, args, output):
            self.seconds[name] += time.perf_counter() - self._start[name]
            self.passes[name] += 1

        return hook

    def reset(self) -> None:
        self.passes = {k: 0 for k in self.passes}
        self.seconds = {k: 0.0 for k in self.seconds}

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _config(family: str, preset: str, vocab_size: int, overrides: dict[str, Any]) -> Config:
    cfg = resolve_config(
        family,
        preset,
        {"model.vocab_size": vocab_size, "train.stage": 2, "model.pad_id": 1, "model.mask_id": 2, **overrides},
    )
    cfg.model.eos_id = vocab_size  # never emitted: every call produces exactly new_tokens per prompt
    return cfg


def _measure_variant(
    family: str, cfg: Config, batch: int, prompt_len: int, new_tokens: int, repeats: int
) -> dict[str, Any]:
    spec = get_family(family)
    torch.manual_seed(0)
    model = spec.build_model(cfg).eval()
    sampler = spec.build_sampler(model, cfg)
    gen = torch.Generator().manual_seed(batch)
    prompts = [torch.randint(3, cfg.model.vocab_size, (prompt_len,), generator=gen).tolist() for _ in range(batch)]
    clock = PassClock(spec.networks(model) if spec.networks is not None else {"model": model})
    produced: list[int] = []

    def call() -> None:
        clock.reset()
        produced.append(sum(len(x) for x in sampler.generate(prompts, new_tokens)))

    t = repeat(call, repeats=repeats, warmup=1)
    clock.remove()
    network = sum(clock.seconds.values())  # of the last call
    last = t.samples[-1]
    return {
        "batch": batch,
        "new_tokens": new_tokens,
        "tokens": produced[-1],
        "tokens_per_second": batch * new_tokens / t.median,
        "latency_seconds": t.as_dict(),
        "passes": dict(clock.passes),
        "network_seconds": dict(clock.seconds),
        "wall_over_network": last / network if network else float("nan"),
    }


def _bare(fn: Callable[[], Any], repeats: int, inner: int = 20) -> float:
    """Median seconds of one call, each sample timing `inner` calls in a row (millisecond passes are noisy)."""
    with torch.no_grad():
        return repeat(lambda: [fn() for _ in range(inner)], repeats=repeats, warmup=1).median / inner


def pass_costs(preset: str, vocab_size: int, batch: int, context: int, repeats: int = 7) -> dict[str, float]:
    """Seconds of bare passes at a cache of `context` positions: AR 1 token, AR one block of tokens,
    the Cola DiT over one block (plain, guided = 2B rows, fused = pending + current block) and the decoder."""
    ar_cfg, cola_cfg = _config("ar", preset, vocab_size, {}), _config("cola", preset, vocab_size, {})
    torch.manual_seed(0)
    ar = cast("ARModel", get_family("ar").build_model(ar_cfg).eval())
    cola = cast("ColaModel", get_family("cola").build_model(cola_cfg).eval())
    dit = cola.dit
    assert dit is not None  # a Stage-2 model (`_config` sets train.stage = 2) has its DiT
    bs, d = cola.block_size, cola.latent_dim
    gen = torch.Generator().manual_seed(0)
    costs: dict[str, float] = {}
    with torch.no_grad():
        prefix = torch.randint(3, vocab_size, (batch, context), generator=gen)
        caches = ar.new_cache()
        ar(prefix, caches, update_cache=True)
        one = prefix[:, :1]
        costs["ar_1_token"] = _bare(lambda: ar(one, caches), repeats)
        block_tokens = prefix[:, : bs * cola.patch_size]
        costs["ar_block_tokens"] = _bare(lambda: ar(block_tokens, caches), repeats)
        n = context // cola.patch_size // bs * bs
        for rows, key in ((1, "dit_block"), (2, "dit_block_guided")):
            dit_caches = dit.new_cache()
            ctx = torch.randn(rows * batch, n, d, generator=gen)
            dit(ctx, torch.zeros(rows * batch, n), torch.arange(n), prefix_mask(n, bs), dit_caches, commit=n)
            z = torch.randn(rows * batch, bs, d, generator=gen)
            t = torch.full((rows * batch, bs), 0.5)

            def block_pass(z: Tensor = z, t: Tensor = t, caches: list[KVCache] = dit_caches) -> Tensor:
                return dit(z, t, torch.arange(n, n + bs), None, caches)

            costs[key] = _bare(block_pass, repeats)
            z2, t2 = torch.cat([z, z], dim=1), torch.cat([t, t], dim=1)  # (rows*B, 2bs, ...)

            def fused_pass(z: Tensor = z2, t: Tensor = t2, caches: list[KVCache] = dit_caches) -> Tensor:
                return dit(z, t, torch.arange(n, n + 2 * bs), None, caches)

            costs[key + "_fused"] = _bare(fused_pass, repeats)
        dec_caches = cola.vae.decoder.new_cache()
        cola.vae.decode(torch.randn(batch, n, d, generator=gen), dec_caches, update_cache=True)
        zb = torch.randn(batch, bs, d, generator=gen)
        costs["decoder_block"] = _bare(lambda: cola.vae.decode(zb, dec_caches), repeats)
        params = {
            "ar": sum(p.numel() for p in ar.parameters()),
            "dit": sum(p.numel() for p in dit.parameters()),
            "decoder": sum(p.numel() for p in cola.vae.decoder.parameters()),
        }
    return {**costs, "block_size": bs, "patch_size": cola.patch_size, **{f"params_{k}": v for k, v in params.items()}}


def predict_cola_over_ar(costs: dict[str, Any], steps: int, guided: bool, new_tokens: int) -> dict[str, float]:
    """Predicted Cola/AR tokens-per-second ratio on this machine (pass costs) and on a memory-bound
    accelerator (pass cost ~ parameters read)."""
    tokens_per_block = costs["block_size"] * costs["patch_size"]
    blocks = new_tokens / tokens_per_block
    dit = costs["dit_block_guided" if guided else "dit_block"]
    fused = costs["dit_block_guided_fused" if guided else "dit_block_fused"]
    cola_time = blocks * (fused + (steps - 1) * dit + costs["decoder_block"])
    ar_time = new_tokens * costs["ar_1_token"]
    cola_weights = blocks * (steps * costs["params_dit"] + costs["params_decoder"])
    ar_weights = new_tokens * costs["params_ar"]
    return {
        "this_machine": ar_time / cola_time,
        "memory_bound_accelerator": ar_weights / cola_weights,
        "sequential_passes_ar": new_tokens,
        "sequential_passes_cola": blocks * (steps + 1),
    }


def bench_sampling(
    preset: str = "s",
    vocab_size: int = 4096,
    new_tokens: int = 256,
    batches: tuple[int, ...] = (1, 8),
    prompt_len: int = 16,
    repeats: int = 3,
    variants: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every sampler variant at every batch size, the pass-cost model and its Cola/AR predictions."""
    out: dict[str, Any] = {"preset": preset, "new_tokens": new_tokens, "prompt_len": prompt_len, "runs": {}}
    for name, overrides in (variants or VARIANTS).items():
        family = name.split("_")[0]
        runs = [(f"{name}/b{b}", b, overrides) for b in batches]
        if name in ONE_AT_A_TIME and max(batches) > 1:
            runs.append((f"{name}/b{max(batches)}_one_at_a_time", max(batches), {**overrides, "sampler.batch_size": 1}))
        for key, batch, over in runs:
            cfg = _config(family, preset, vocab_size, over)
            figures = _measure_variant(family, cfg, batch, prompt_len, new_tokens, repeats)
            out["runs"][key] = {
                "family": family,
                "steps": getattr(cfg.sampler, "steps", None),  # None: the family has no denoising steps (AR)
                "cfg": getattr(cfg.sampler, "cfg", None),
                "batch_size": cfg.sampler.batch_size,
                **figures,
            }
            log.info(
                "sample %s: %.0f tok/s, wall/network %.2f",
                key,
                figures["tokens_per_second"],
                figures["wall_over_network"],
            )
    out["pass_costs"], out["cola_vs_ar"] = {}, {}
    for batch in batches:
        costs = pass_costs(preset, vocab_size, batch, context=prompt_len + new_tokens // 2)
        out["pass_costs"][f"b{batch}"] = costs
        for name, run in out["runs"].items():
            if run["family"] != "cola" or run["batch"] != batch or name.endswith("one_at_a_time"):
                continue
            predicted = predict_cola_over_ar(costs, run["steps"], run["cfg"] != 1.0, new_tokens)
            measured = run["tokens_per_second"] / out["runs"][f"ar/b{batch}"]["tokens_per_second"]
            out["cola_vs_ar"][name] = {
                **predicted,
                "measured": measured,
                "measured_over_predicted": measured / predicted["this_machine"],
            }
    return out
