"""Block-by-block Cola sampler (DESIGN.md §3; official `generate_task_repaint_inference`, reference §1.4).

Prompts of equal length are generated together as one batch. Per batch: encode the complete patches
of the prompts with the posterior mode and normalise; run the complete prompt blocks through the DiT
at t = 0 into its KV cache and through the VAE decoder's cache. A prompt that ends inside a block
makes that block the first generated one, with its prompt latents pinned clean at t = 0 at every ODE
step ("clean-condition repaint"). Each block integrates the ODE from eps at t = 1 to t = 0 on a
uniform grid (Euler or Heun) with classifier-free guidance v = v_u + w (v_c - v_u), where the
unconditional branch sees only the current block; the finished block is decoded in parallel by the
VAE decoder.

Network passes per block (cached mode): `steps` DiT passes and one decoder pass. The finished block
enters the DiT cache by riding along (at t = 0) with the next block's first ODE step instead of in a
pass of its own, and the unconditional branch is the second half of the same batch, kept off the
cache by its attention mask. Sampling and EOS checks are tensor operations once per block.

With patch size p > 1, a prompt whose length is not a multiple of p leaves a partial patch: that latent
is generated (not pinned) and the decoder's first tokens for it are replaced by the prompt's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cola_core.config import Config, ConfigError
from cola_core.families.cola.masks import prefix_mask
from cola_core.families.cola.model import ColaModel
from cola_core.nn.attention import KVCache
from cola_core.sampling import cut_at_eos, document_starts, length_groups, sample_logits


@dataclass
class _State:
    """One batch's generation state: clean normalised latents so far and (cached mode) the KV caches."""

    ctx: torch.Tensor
    """(B, n, d) clean normalised latents: prompt blocks, then finished blocks."""
    dit_caches: list[KVCache] | None = None
    """DiT caches; 2B rows (conditional, then unconditional) when guidance is on."""
    dec_caches: list[KVCache] | None = None
    pinned: torch.Tensor | None = None
    """(B, k, d) clean latents of prompts that end inside the first generated block."""
    pending: torch.Tensor | None = None
    """(B, bs, d) the last finished block, not yet in the DiT cache (the next pass commits it)."""

    @property
    def n(self) -> int:
        return self.ctx.shape[1]


class ColaSampler:
    """`generate(prompts, max_new_tokens)`; prompts of equal length share a batch (no padding).

    `use_cache=False` recomputes the DiT context and the decoder history for every block, with the
    unconditional branch as a separate pass (equality tests).
    """

    def __init__(self, model: ColaModel, cfg: Config, use_cache: bool = True):
        if getattr(model, "dit", None) is None:
            raise ConfigError("sampling needs a Stage-2 Cola model (train.stage=2): a Stage-1 model has no DiT prior")
        self.model, self.scfg, self.eos_id, self.use_cache = model, cfg.sampler, cfg.model.eos_id, use_cache
        self.bs, self.p = model.block_size, model.patch_size
        self.guided = self.scfg.cfg != 1.0
        self.last_latents: list[torch.Tensor] = []
        """Clean normalised latents (1, n, d) of every prompt of the last call, prompt blocks included,
        up to the block in which the prompt finished."""

    @property
    def device(self) -> torch.device:
        return self.model.latent_shift.device

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """New token ids per prompt; stops at EOS (not returned) or after `max_new_tokens` tokens."""
        gen = torch.Generator(device=self.device).manual_seed(self.scfg.seed)
        outs: list[list[int]] = [[] for _ in prompts]
        latents: list[torch.Tensor] = [torch.empty(0) for _ in prompts]
        prompts = document_starts(prompts, self.eos_id)
        for group in length_groups(prompts, self.scfg.batch_size):
            tokens, lat = self._batch([list(prompts[i]) for i in group], max_new_tokens, gen)
            for j, i in enumerate(group):
                outs[i], latents[i] = tokens[j], lat[j]
        self.last_latents = latents
        return outs

    def _batch(self, prompts: list[list[int]], max_new_tokens: int,
               gen: torch.Generator) -> tuple[list[list[int]], list[torch.Tensor]]:
        """Generate for B prompts of one length -> (token lists, clean latents (1, n_i, d) per prompt)."""
        B = len(prompts)
        n_patches, tail = divmod(len(prompts[0]), self.p)
        zc = self._encode([pr[: n_patches * self.p] for pr in prompts])  # (B, n_patches, d)
        n_prefix = (n_patches // self.bs) * self.bs
        state = self._start(zc[:, :n_prefix])
        state.pinned = zc[:, n_prefix:] if n_patches > n_prefix else None
        skip = (n_patches - n_prefix) * self.p + tail  # prompt tokens inside the first generated block
        blocks: list[torch.Tensor] = []
        produced = 0
        finished_at = torch.zeros(B, dtype=torch.long, device=self.device)  # latents in ctx when a row finished (0: running)
        while max_new_tokens > 0 and produced < max_new_tokens:
            zn = self._integrate(state, gen)
            tokens = self._decode(state, zn, gen)[:, skip:]  # (B, bs * p - skip)
            self._commit(state, zn)
            skip, state.pinned = 0, None
            blocks.append(tokens)
            produced += tokens.shape[1]
            ended = (tokens == self.eos_id).any(dim=1) | (produced >= max_new_tokens)  # (B,)
            finished_at = torch.where((finished_at == 0) & ended, state.n, finished_at)
            if bool((finished_at > 0).all()):
                break
        finished_at = torch.where(finished_at == 0, state.n, finished_at)
        ids = torch.cat(blocks, dim=1)[:, :max_new_tokens].tolist() if blocks else [[] for _ in range(B)]
        outs = [cut_at_eos(row, self.eos_id) for row in ids]
        return outs, [state.ctx[i : i + 1, : int(finished_at[i])] for i in range(B)]

    def _encode(self, prompts: list[list[int]]) -> torch.Tensor:
        """B prompts of one length (a multiple of p) -> normalised posterior-mode latents (B, n, d)."""
        if not prompts[0]:
            return torch.zeros(len(prompts), 0, self.model.latent_dim, device=self.device)
        ids = torch.tensor(prompts, dtype=torch.long, device=self.device)  # (B, T)
        return self.model.normalize(self.model.vae.encode(ids).mode())

    @staticmethod
    def _rows(x: torch.Tensor, guided: bool) -> torch.Tensor:
        """(B, ...) -> (2B, ...) [conditional; unconditional] when `guided`, else unchanged."""
        return torch.cat([x, x], dim=0) if guided else x

    def _start(self, prefix: torch.Tensor) -> _State:
        """Put the complete prompt blocks (B, n, d) into the DiT and decoder caches (cached mode)."""
        state = _State(ctx=prefix)
        if not self.use_cache:
            return state
        state.dit_caches, state.dec_caches = self.model.dit.new_cache(), self.model.vae.decoder.new_cache()
        B, n, _ = prefix.shape
        if n:
            t0 = torch.zeros(B, n, device=self.device)
            positions = torch.arange(n, device=self.device)
            mask = prefix_mask(n, self.bs, self.device)
            g = self.guided  # the cache holds both branches' rows from the start
            self.model.dit(self._rows(prefix, g), self._rows(t0, g), positions, mask, state.dit_caches, commit=n)
            self.model.vae.decode(self.model.denormalize(prefix), state.dec_caches, update_cache=True)
        return state

    def _velocity(self, state: _State, z: torch.Tensor, t: float, pins: torch.Tensor) -> torch.Tensor:
        """Guided velocity of the current block z (B, bs, d) at time t; pinned latents get t = 0."""
        B, bs = z.shape[0], self.bs
        t_tok = torch.full((B, bs), float(t), device=self.device).masked_fill(pins[None], 0.0)  # (B, bs)
        if self.use_cache:
            return self._cached_velocity(state, z, t_tok)
        dit, n, w = self.model.dit, state.n, self.scfg.cfg
        x = torch.cat([state.ctx, z], dim=1)  # (B, n + bs, d)
        t_all = torch.cat([torch.zeros(B, n, device=self.device), t_tok], dim=1)  # (B, n + bs)
        all_pos = torch.arange(n + bs, device=self.device)
        v_c = dit(x, t_all, all_pos, prefix_mask(n + bs, bs, self.device))[:, n:]  # (B, bs, d)
        if n == 0 or not self.guided:  # no context: the conditional pass already is the unconditional one
            return v_c
        v_u = dit(z, t_tok, torch.arange(n, n + bs, device=self.device), None)
        return v_u + w * (v_c - v_u)

    def _cached_velocity(self, state: _State, z: torch.Tensor, t_tok: torch.Tensor) -> torch.Tensor:
        """One DiT pass over [pending finished block (t = 0) | current block], both branches batched."""
        bs, w = self.bs, self.scfg.cfg
        cached = state.dit_caches[0].length
        x, tt = z, t_tok  # (B, bs, d), (B, bs)
        if state.pending is not None:
            x = torch.cat([state.pending, z], dim=1)  # (B, 2bs, d)
            tt = torch.cat([torch.zeros_like(t_tok), t_tok], dim=1)  # (B, 2bs)
        commit = x.shape[1] - bs
        guided = self.guided and cached + commit > 0  # no context: the unconditional branch is the conditional one
        positions = torch.arange(cached, cached + x.shape[1], device=self.device)
        mask = self._pass_mask(cached, commit, z.shape[0], guided)
        v = self.model.dit(self._rows(x, guided), self._rows(tt, guided), positions, mask, state.dit_caches,
                           commit=commit)[:, commit:]
        state.pending = None
        if not guided:
            return v  # (B, bs, d)
        v_c, v_u = v.chunk(2, dim=0)  # 2 x (B, bs, d)
        return v_u + w * (v_c - v_u)

    def _pass_mask(self, cached: int, commit: int, batch: int, guided: bool) -> torch.Tensor | None:
        """Keys [cache (cached) | pending (commit) | block (bs)] -> mask (T_q, T_k) or (2B, 1, T_q, T_k).

        Conditional rows: the pending block sees the cache and itself, the current block sees everything.
        Unconditional rows (guided): each block sees only itself.
        """
        bs = self.bs
        t_q, t_k = commit + bs, cached + commit + bs
        if not commit and not guided:
            return None
        keys = torch.arange(t_k, device=self.device)[None, :]  # (1, T_k)
        queries = torch.arange(t_q, device=self.device)[:, None] + cached  # (T_q, 1) key index of each query
        block_start = cached + (queries - cached) // bs * bs  # (T_q, 1)
        cond = keys < block_start + bs  # (T_q, T_k): cache, earlier and own block
        if not guided:
            return cond
        uncond = (keys >= block_start) & (keys < block_start + bs)  # own block only
        return torch.cat([cond.expand(batch, 1, t_q, t_k), uncond.expand(batch, 1, t_q, t_k)], dim=0)

    def _integrate(self, state: _State, gen: torch.Generator) -> torch.Tensor:
        """ODE from eps at t = 1 to t = 0 in `steps` uniform steps -> clean normalised block (B, bs, d)."""
        B, d = state.ctx.shape[0], self.model.latent_dim
        z = torch.randn(B, self.bs, d, generator=gen, device=self.device)
        clean = torch.zeros_like(z)
        pins = torch.zeros(self.bs, dtype=torch.bool, device=self.device)
        if state.pinned is not None:
            k = state.pinned.shape[1]
            clean[:, :k], pins[:k] = state.pinned, True
        z = torch.where(pins[None, :, None], clean, z)
        grid = torch.linspace(1.0, 0.0, self.scfg.steps + 1).tolist()
        for t0, t1 in zip(grid[:-1], grid[1:]):
            v = self._velocity(state, z, t0, pins)
            if self.scfg.solver == "heun":
                z_pred = torch.where(pins[None, :, None], clean, z + (t1 - t0) * v)
                v = 0.5 * (v + self._velocity(state, z_pred, t1, pins))
            z = torch.where(pins[None, :, None], clean, z + (t1 - t0) * v)
        return z

    def _decode(self, state: _State, zn: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Decode a finished block (B, bs, d) in parallel -> token ids (B, bs * p)."""
        vae, s = self.model.vae, self.scfg
        if self.use_cache:
            logits = vae.decode(self.model.denormalize(zn), state.dec_caches, update_cache=True)  # (B, bs*p, V)
        else:
            history = torch.cat([state.ctx, zn], dim=1)  # (B, n + bs, d)
            logits = vae.decode(self.model.denormalize(history))[:, state.n * self.p :]  # (B, bs*p, V)
        return sample_logits(logits, s.temperature, s.top_k, s.top_p, gen)

    def _commit(self, state: _State, zn: torch.Tensor) -> None:
        """Append the clean block to the context; in cached mode the next DiT pass stores it (`pending`)."""
        if self.use_cache:
            state.pending = zn
        state.ctx = torch.cat([state.ctx, zn], dim=1)  # (B, n + bs, d)


def build_cola_sampler(model: ColaModel, cfg: Config) -> ColaSampler:
    """The family's sampler factory."""
    return ColaSampler(model, cfg)
