"""Block-by-block Cola sampler (DESIGN.md §3; official `generate_task_repaint_inference`, reference §1.4).

Per prompt: encode the complete patches of the prompt with the posterior mode and normalise; run the
complete prompt blocks through the DiT at t = 0 into its KV cache and through the VAE decoder's cache.
A prompt that ends inside a block makes that block the first generated one, with its prompt latents
pinned clean at t = 0 at every ODE step ("clean-condition repaint"). Each block integrates the ODE
from eps at t = 1 to t = 0 on a uniform grid (Euler or Heun) with classifier-free guidance
v = v_u + w (v_c - v_u), where the unconditional pass sees only the current block; the finished block
is decoded in parallel by the VAE decoder and appended to the DiT cache with one t = 0 forward.

With patch size p > 1, a prompt whose length is not a multiple of p leaves a partial patch: that latent
is generated (not pinned) and the decoder's first tokens for it are replaced by the prompt's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from cola_core.config import Config, ConfigError
from cola_core.families.cola.masks import prefix_mask
from cola_core.families.cola.model import ColaModel
from cola_core.nn.attention import KVCache
from cola_core.sampling import sample_logits


@dataclass
class _State:
    """One prompt's generation state: clean normalised latents so far and (cached mode) the KV caches."""

    ctx: torch.Tensor
    """(1, n, d) clean normalised latents: prompt blocks, then finished blocks."""
    dit_caches: list[KVCache] | None = None
    dec_caches: list[KVCache] | None = None
    pinned: torch.Tensor | None = None
    """(1, k, d) clean latents of a prompt that ends inside the first generated block."""
    out: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.ctx.shape[1]


class ColaSampler:
    """`generate(prompts, max_new_tokens)`; prompts are processed one at a time (no padding).

    `use_cache=False` recomputes the DiT context and the decoder history for every block (equality tests).
    """

    def __init__(self, model: ColaModel, cfg: Config, use_cache: bool = True):
        if getattr(model, "dit", None) is None:
            raise ConfigError("sampling needs a Stage-2 Cola model (train.stage=2): a Stage-1 model has no DiT prior")
        self.model, self.scfg, self.eos_id, self.use_cache = model, cfg.sampler, cfg.model.eos_id, use_cache
        self.bs, self.p = model.block_size, model.patch_size
        self.last_latents: list[torch.Tensor] = []
        """Clean normalised latents (1, n, d) of every prompt's last call, prompt blocks included."""

    @property
    def device(self) -> torch.device:
        return self.model.latent_shift.device

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """New token ids per prompt; stops at EOS (not returned) or after `max_new_tokens` tokens."""
        gen = torch.Generator(device=self.device).manual_seed(self.scfg.seed)
        self.last_latents = []
        return [self._one(list(prompt), max_new_tokens, gen) for prompt in prompts]

    def _one(self, prompt: list[int], max_new_tokens: int, gen: torch.Generator) -> list[int]:
        n_patches, tail = divmod(len(prompt), self.p)
        zc = self._encode(prompt[: n_patches * self.p])  # (1, n_patches, d)
        n_prefix = (n_patches // self.bs) * self.bs
        state = self._start(zc[:, :n_prefix])
        state.pinned = zc[:, n_prefix:] if n_patches > n_prefix else None
        skip = (n_patches - n_prefix) * self.p + tail  # prompt tokens inside the first generated block
        while len(state.out) < max_new_tokens:
            zn = self._integrate(state, gen)
            tokens = self._decode(state, zn, gen)[skip:]
            self._commit(state, zn)
            skip, state.pinned = 0, None
            for token in tokens:
                if token == self.eos_id or len(state.out) >= max_new_tokens:
                    self.last_latents.append(state.ctx)
                    return state.out
                state.out.append(token)
        self.last_latents.append(state.ctx)
        return state.out

    def _encode(self, tokens: list[int]) -> torch.Tensor:
        """Prompt tokens (a multiple of p) -> normalised posterior-mode latents (1, n, d)."""
        if not tokens:
            return torch.zeros(1, 0, self.model.latent_dim, device=self.device)
        ids = torch.tensor([tokens], dtype=torch.long, device=self.device)  # (1, T)
        return self.model.normalize(self.model.vae.encode(ids).mode())

    def _start(self, prefix: torch.Tensor) -> _State:
        """Put the complete prompt blocks (1, n, d) into the DiT and decoder caches (cached mode)."""
        state = _State(ctx=prefix)
        if not self.use_cache:
            return state
        state.dit_caches, state.dec_caches = self.model.dit.new_cache(), self.model.vae.decoder.new_cache()
        n = prefix.shape[1]
        if n:
            t0 = torch.zeros(1, n, device=self.device)
            positions = torch.arange(n, device=self.device)
            self.model.dit(prefix, t0, positions, prefix_mask(n, self.bs, self.device), state.dit_caches, update_cache=True)
            self.model.vae.decode(self.model.denormalize(prefix), state.dec_caches, update_cache=True)
        return state

    def _velocity(self, state: _State, z: torch.Tensor, t: float, pins: torch.Tensor) -> torch.Tensor:
        """Guided velocity of the current block z (1, bs, d) at time t; pinned latents get t = 0."""
        dit, n, bs = self.model.dit, state.n, self.bs
        t_tok = torch.full((1, bs), float(t), device=self.device).masked_fill(pins[None], 0.0)  # (1, bs)
        positions = torch.arange(n, n + bs, device=self.device)
        if self.use_cache:
            v_c = dit(z, t_tok, positions, None, state.dit_caches)
        else:
            x = torch.cat([state.ctx, z], dim=1)  # (1, n + bs, d)
            t_all = torch.cat([torch.zeros(1, n, device=self.device), t_tok], dim=1)  # (1, n + bs)
            all_pos = torch.arange(n + bs, device=self.device)
            v_c = dit(x, t_all, all_pos, prefix_mask(n + bs, bs, self.device))[:, n:]  # (1, bs, d)
        w = self.scfg.cfg
        if n == 0 or w == 1.0:  # no context: the conditional pass already is the unconditional one
            return v_c
        v_u = dit(z, t_tok, positions, None, state.dit_caches, use_cache=False)
        return v_u + w * (v_c - v_u)

    def _integrate(self, state: _State, gen: torch.Generator) -> torch.Tensor:
        """ODE from eps at t = 1 to t = 0 in `steps` uniform steps -> clean normalised block (1, bs, d)."""
        d = self.model.latent_dim
        z = torch.randn(1, self.bs, d, generator=gen, device=self.device)
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

    def _decode(self, state: _State, zn: torch.Tensor, gen: torch.Generator) -> list[int]:
        """Decode a finished block (1, bs, d) in parallel -> bs * p token ids."""
        vae, s = self.model.vae, self.scfg
        if self.use_cache:
            logits = vae.decode(self.model.denormalize(zn), state.dec_caches, update_cache=True)[0]  # (bs*p, V)
        else:
            history = torch.cat([state.ctx, zn], dim=1)  # (1, n + bs, d)
            logits = vae.decode(self.model.denormalize(history))[0, state.n * self.p:]  # (bs*p, V)
        return sample_logits(logits, s.temperature, s.top_k, s.top_p, gen).tolist()

    def _commit(self, state: _State, zn: torch.Tensor) -> None:
        """Append the clean block to the context (one t = 0 forward into the DiT cache in cached mode)."""
        if self.use_cache:
            positions = torch.arange(state.n, state.n + self.bs, device=self.device)
            t0 = torch.zeros(1, self.bs, device=self.device)
            self.model.dit(zn, t0, positions, None, state.dit_caches, update_cache=True)
        state.ctx = torch.cat([state.ctx, zn], dim=1)  # (1, n + bs, d)


def build_cola_sampler(model: ColaModel, cfg: Config) -> ColaSampler:
    """The family's sampler factory."""
    return ColaSampler(model, cfg)
