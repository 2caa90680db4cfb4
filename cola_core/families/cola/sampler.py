"""Block-by-block Cola sampler (DESIGN.md §3; official `generate_task_repaint_inference`, reference §1.4).

Per batch: encode the complete patches of the prompts with the posterior mode and normalise; run the
complete prompt blocks through the DiT at t = 0 into its KV cache and through the VAE decoder's cache.
A prompt that ends inside a block makes that block the first generated one, with its prompt latents
pinned clean at t = 0 at every ODE step ("clean-condition repaint"). Each block integrates the ODE
from eps at t = 1 to t = 0 on a uniform grid (Euler or Heun) with classifier-free guidance
v = v_u + w (v_c - v_u), where the unconditional branch sees only the current block; the finished
block is decoded in parallel by the VAE decoder.

Network passes per block (cached mode): `steps` DiT passes and one decoder pass. The finished block
enters the DiT cache by riding along (at t = 0) with the next block's first ODE step instead of in a
pass of its own, and the unconditional branch is the second half of the same batch, kept off the
cache by its attention mask. Sampling and EOS checks are tensor operations once per block.

With patch size p > 1, a prompt whose length is not a multiple of p leaves a partial patch: that latent
is generated (not pinned) and the decoder's first tokens for it are replaced by the prompt's own
(dropped from the output); with `model.boundary = aware` the prompt is left-padded to whole patches
instead (`boundary.py`). With `sampler.partial_patch_candidates = N > 1` such a prompt is sampled N times
(its N copies get different noise, the first the noise it gets alone) and the copy whose first generated
block gives the prompt's own tokens the highest decoder log-likelihood is kept: a best-of-N draw of the
partial patch's latent given the tokens it must hold.

Prompts of different lengths share a batch (`sorted_batches`: sorted by length, at most
`sampler.batch_size`), and each row computes what it would alone:

* Left padding by whole blocks. A row is padded with zero latents up to the batch's largest number
  of complete prompt blocks, so every row's first generated block, and every later one, sits at the
  same batch position and block boundaries stay aligned. Padded latents are keys that no real query
  attends, in every DiT and decoder pass, cached or not (`key_padding_mask`; a padded query sees
  only itself, so nothing turns NaN). A masked key gets softmax weight exactly 0.
* Positions. All rows share positions 0..n-1, so a padded row's latents sit `pad` positions later
  than alone. Positions enter the DiT and the decoder only through RoPE on queries and keys (no
  absolute position embedding; the timestep embedding is a per-token function of t, not of the
  position), and RoPE scores depend only on position differences: the shift changes nothing but
  the float rounding of the rotation angles.
* The encoder is causal, so prompts are right-padded to encode in one pass (positions from 0, as alone).
* The first generated block differs per row: which of its latents are pinned prompt latents (a
  (B, bs) pin mask, giving them t = 0 and their clean values) and how many of its decoded tokens are
  prompt tokens (pinned latents and a partial patch), dropped before the EOS check and the budget.
* Guidance: a row without real context in a batch with context computes v_u + w (v_c - v_u) with
  v_c = v_u (both see only its own block) where alone it runs the conditional pass only.
* Randomness: every prompt has its own generator, seeded from (`sampler.seed`, its tokens, how many
  equal prompts came before it in the call), for its ODE noise and its token sampling. A prompt's
  output therefore depends neither on the other prompts of the call nor on their order or the batch
  size, at any temperature. (Before, one stream per call was consumed batch by batch; since the ODE
  starts from noise, even greedy outputs depended on the grouping. Outputs for a given seed changed
  with this.) Equal prompts in one call still get different noise.
* Rows that have finished keep being computed until the whole batch has (their tokens are dropped).

So batched and alone agree up to floating-point reassociation in batched matmuls and the RoPE
rounding above (the tests check for the same tokens).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import torch

from cola_core.config import Config, ConfigError
from cola_core.families.cola.boundary import align_prompt
from cola_core.families.cola.config import cola_model_config, cola_sampler_config
from cola_core.families.cola.masks import key_padding_mask, prefix_mask
from cola_core.families.cola.model import ColaModel, eval_block_size
from cola_core.nn.attention import KVCache
from cola_core.sampling import (
    Snapshot,
    Steps,
    cut_at_eos,
    document_starts,
    drain,
    new_chunks,
    sample_logits,
    sorted_batches,
)


@dataclass
class _State:
    """One batch's generation state: clean normalised latents so far and (cached mode) the KV caches."""

    ctx: torch.Tensor
    """(B, n, d) clean normalised latents: left padding, prompt blocks, then finished blocks."""
    valid: torch.Tensor | None = None
    """(B, n) False at the left padding of `ctx`; None when no row of the batch is padded."""
    dit_caches: list[KVCache] | None = None
    """DiT caches; 2B rows (conditional, then unconditional) when guidance is on."""
    dec_caches: list[KVCache] | None = None
    pinned: torch.Tensor | None = None
    """(B, bs, d) clean prompt latents of the first generated block at `pins` (zeros elsewhere)."""
    pins: torch.Tensor | None = None
    """(B, bs) True where a row's first generated block holds prompt latents; None when no row has any."""
    pending: torch.Tensor | None = None
    """(B, bs, d) the last finished block, not yet in the DiT cache (the next pass commits it)."""
    masks: dict[tuple[int, int, bool], torch.Tensor | None] = field(default_factory=dict)
    """Cached-mode DiT pass masks of the current block by (cached, commit, guided): the ODE steps share them."""

    @property
    def n(self) -> int:
        return self.ctx.shape[1]

    def keys_valid(self, extra: int) -> torch.Tensor | None:
        """Valid keys over [ctx | `extra` new latents] -> (B, n + extra), or None when nothing is padded."""
        if self.valid is None:
            return None
        return torch.cat([self.valid, self.valid.new_ones(self.valid.shape[0], extra)], dim=1)


class ColaSampler:
    """`generate(prompts, max_new_tokens)`; prompts of any lengths share a batch (left-padded, masked).

    `use_cache=False` recomputes the DiT context and the decoder history for every block, with the
    unconditional branch as a separate pass (equality tests).
    """

    def __init__(self, model: ColaModel, cfg: Config, use_cache: bool = True):
        if getattr(model, "dit", None) is None:
            raise ConfigError("sampling needs a Stage-2 Cola model (train.stage=2): a Stage-1 model has no DiT prior")
        self.model, self.eos_id, self.use_cache = model, cfg.model.eos_id, use_cache
        self.scfg = cola_sampler_config(cfg)
        self.bs, self.p = eval_block_size(model, cfg), model.patch_size
        self.align, self.pad_id = cola_model_config(cfg).boundary == "aware" and self.p > 1, cfg.model.pad_id
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
        prompts = self._prompts(prompts)
        copies = [self._copies(pr) for pr in prompts]
        owner = [i for i, c in enumerate(copies) for _ in range(c)]  # prompt of each sampled copy
        runs = [prompts[i] for i in owner]
        gens = self._generators(runs)
        outs: list[list[int]] = [[] for _ in runs]
        latents: list[torch.Tensor] = [torch.empty(0) for _ in runs]
        scores = [0.0 for _ in runs]
        for group in sorted_batches(runs, self.scfg.batch_size):
            tokens, lat, fit = drain(
                self._steps([list(runs[i]) for i in group], max_new_tokens, [gens[i] for i in group])
            )
            for j, i in enumerate(group):
                outs[i], latents[i], scores[i] = tokens[j], lat[j], fit[j]
        best: dict[int, int] = {}  # prompt -> its copy whose partial patch fits the prompt best (the first on ties)
        for k, i in enumerate(owner):
            if i not in best or scores[k] > scores[best[i]]:
                best[i] = k
        self.last_latents = [latents[best[i]] for i in range(len(prompts))]
        return [outs[best[i]] for i in range(len(prompts))]

    def _copies(self, prompt: list[int]) -> int:
        """How many times `prompt` is sampled: `sampler.partial_patch_candidates` if it ends inside a patch."""
        return self.scfg.partial_patch_candidates if len(prompt) % self.p else 1

    @torch.no_grad()
    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[list[int]]:
        """The new ids of one prompt block by block, each as soon as the decoder has realised it; they
        concatenate to `generate([prompt], max_new_tokens)[0]`. A prompt sampled as several candidates
        (`sampler.partial_patch_candidates`) arrives in one piece, once the best is known."""
        prompts = self._prompts([prompt])
        if self._copies(prompts[0]) > 1:
            yield self.generate([prompt], max_new_tokens)[0]
            return
        steps = self._steps([list(prompts[0])], max_new_tokens, self._generators(prompts))
        yield from new_chunks(_tokens_only(steps))

    def _prompts(self, prompts: list[list[int]]) -> list[list[int]]:
        """The prompts as sampled: an empty one starts a document; `model.boundary = aware` left-pads each to
        end on a patch boundary (`align_prompt`; its PAD tokens are prompt tokens, dropped from the output)."""
        prompts = document_starts(prompts, self.eos_id)
        if self.align:
            prompts = [align_prompt(pr, self.p, self.pad_id) for pr in prompts]
        return prompts

    def _generators(self, prompts: list[list[int]]) -> list[torch.Generator]:
        """One random stream per prompt, seeded from (seed, its tokens, its occurrence among equal prompts)."""
        seen: dict[tuple[int, ...], int] = {}
        gens = []
        for prompt in prompts:
            key = tuple(prompt)
            seen[key] = seen.get(key, -1) + 1
            digest = hashlib.blake2b(repr((self.scfg.seed, seen[key], key)).encode(), digest_size=8).digest()
            gens.append(torch.Generator(device=self.device).manual_seed(int.from_bytes(digest, "little") >> 1))
        return gens

    def _steps(
        self, prompts: list[list[int]], max_new_tokens: int, gens: list[torch.Generator]
    ) -> Generator[Snapshot, None, tuple[list[list[int]], list[torch.Tensor], list[float]]]:
        """Generate for B prompts of any lengths, a snapshot after every decoded block -> (token lists,
        clean latents (1, n_i, d) per prompt, the decoder log-likelihood of each prompt's tokens inside its
        first generated block)."""
        B, bs, p, d = len(prompts), self.bs, self.p, self.model.latent_dim
        n_patches = [len(pr) // p for pr in prompts]  # complete patches = prompt latents per row
        n_prefix = max(n // bs for n in n_patches) * bs  # latents in the batch's complete prompt blocks
        pads = [n_prefix - n // bs * bs for n in n_patches]  # left padding per row, whole blocks
        zc = self._encode([pr[: n * p] for pr, n in zip(prompts, n_patches)])  # (B, max n_patches, d)
        prefix = zc.new_zeros(B, n_prefix, d)
        valid = torch.zeros(B, n_prefix, dtype=torch.bool, device=self.device)
        pinned = zc.new_zeros(B, bs, d)
        pins = torch.zeros(B, bs, dtype=torch.bool, device=self.device)
        for i, (n, pad) in enumerate(zip(n_patches, pads)):
            m = n_prefix - pad  # the row's latents in complete blocks
            prefix[i, pad:], valid[i, pad:] = zc[i, :m], True
            pinned[i, : n - m], pins[i, : n - m] = zc[i, m:n], True
        state = self._start(prefix, None if bool(valid.all()) else valid)
        if bool(pins.any()):
            state.pinned, state.pins = pinned, pins
        # Prompt tokens inside the first generated block (pinned latents and a partial patch), per row.
        skip = [len(pr) - (n_prefix - pad) * p for pr, pad in zip(prompts, pads)]
        width = bs * p
        produced = -torch.tensor(skip, device=self.device)  # (B,) new tokens before this block (< 0: prompt)
        offsets = torch.arange(width, device=self.device)
        blocks: list[torch.Tensor] = []
        finished_at = torch.zeros(
            B, dtype=torch.long, device=self.device
        )  # latents in ctx when a row finished (0: running)
        fit = [0.0] * B
        while max_new_tokens > 0:
            zn = self._integrate(state, gens)
            tokens, logits = self._decode(state, zn, gens)  # (B, width), (B, width, V)
            if not blocks and self.scfg.partial_patch_candidates > 1:  # only candidates are compared
                fit = self._prompt_fit(logits, [pr[len(pr) - s :] for pr, s in zip(prompts, skip)])
            self._commit(state, zn)
            state.pinned = state.pins = None
            blocks.append(tokens)
            yield lambda: [
                cut_at_eos(row[s : s + max_new_tokens], self.eos_id)
                for row, s in zip(torch.cat(blocks, dim=1).tolist(), skip)
            ]
            new = produced[:, None] + offsets >= 0  # (B, width) generated, not prompt
            produced = produced + width
            ended = ((tokens == self.eos_id) & new).any(dim=1) | (produced >= max_new_tokens)  # (B,)
            finished_at = torch.where((finished_at == 0) & ended, state.n, finished_at)
            if bool((finished_at > 0).all()):
                break
        finished_at = torch.where(finished_at == 0, state.n, finished_at)
        ids = torch.cat(blocks, dim=1).tolist() if blocks else [[] for _ in range(B)]
        outs = [cut_at_eos(row[s : s + max_new_tokens], self.eos_id) for row, s in zip(ids, skip)]
        lat = [state.ctx[i : i + 1, pad : int(end)] for i, (pad, end) in enumerate(zip(pads, finished_at))]
        return outs, lat, fit

    def _prompt_fit(self, logits: torch.Tensor, known: list[list[int]]) -> list[float]:
        """Decoder log-likelihood of each row's prompt tokens at the start of its first generated block:
        logits (B, width, V), `known` the prompt's tokens there per row -> (B,) floats."""
        B, width, _ = logits.shape
        ids = torch.zeros(B, width, dtype=torch.long, device=self.device)
        held = torch.zeros(B, width, dtype=torch.bool, device=self.device)
        for i, row in enumerate(known):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long, device=self.device)
            held[i, : len(row)] = True
        logp = logits.float().log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)  # (B, width)
        return (logp * held).sum(dim=1).tolist()

    def _encode(self, prompts: list[list[int]]) -> torch.Tensor:
        """B prompts (lengths multiples of p) -> normalised posterior-mode latents (B, max n, d).

        Rows are right-padded (token 0) to one length: the encoder is causal, so the padding after a
        row changes none of its latents, which sit at the positions they have alone.
        """
        width = max(len(pr) for pr in prompts)
        if not width:
            return torch.zeros(len(prompts), 0, self.model.latent_dim, device=self.device)
        ids = torch.tensor([pr + [0] * (width - len(pr)) for pr in prompts], dtype=torch.long, device=self.device)
        return self.model.normalize(self.model.vae.encode(ids).mode())

    @staticmethod
    def _rows(x: torch.Tensor, guided: bool) -> torch.Tensor:
        """(B, ...) -> (2B, ...) [conditional; unconditional] when `guided`, else unchanged."""
        return torch.cat([x, x], dim=0) if guided else x

    def _start(self, prefix: torch.Tensor, valid: torch.Tensor | None) -> _State:
        """Put the complete prompt blocks (B, n, d) (left-padded) into the DiT and decoder caches (cached mode)."""
        state = _State(ctx=prefix, valid=valid)
        if not self.use_cache:
            return state
        assert self.model.dit is not None  # `__init__` refuses a Stage-1 model
        state.dit_caches, state.dec_caches = self.model.dit.new_cache(), self.model.vae.decoder.new_cache()
        B, n, _ = prefix.shape
        if n:
            t0 = torch.zeros(B, n, device=self.device)
            positions = torch.arange(n, device=self.device)
            g = self.guided  # the cache holds both branches' rows from the start
            mask = prefix_mask(n, self.bs, self.device)
            if valid is not None:
                mask = self._rows(key_padding_mask(mask, valid), g)
            self.model.dit(self._rows(prefix, g), self._rows(t0, g), positions, mask, state.dit_caches, commit=n)
            self._decoder(self.model.denormalize(prefix), state.dec_caches, valid)
        return state

    def _velocity(self, state: _State, z: torch.Tensor, t: float) -> torch.Tensor:
        """Guided velocity of the current block z (B, bs, d) at time t; pinned latents get t = 0."""
        B, bs = z.shape[0], self.bs
        t_tok = torch.full((B, bs), float(t), device=self.device)
        if state.pins is not None:
            t_tok = t_tok.masked_fill(state.pins, 0.0)  # (B, bs)
        if self.use_cache:
            return self._cached_velocity(state, z, t_tok)
        dit, n, w = self.model.dit, state.n, self.scfg.cfg
        assert dit is not None  # `__init__` refuses a Stage-1 model
        x = torch.cat([state.ctx, z], dim=1)  # (B, n + bs, d)
        t_all = torch.cat([torch.zeros(B, n, device=self.device), t_tok], dim=1)  # (B, n + bs)
        all_pos = torch.arange(n + bs, device=self.device)
        mask = prefix_mask(n + bs, bs, self.device)
        valid = state.keys_valid(bs)
        if valid is not None:
            mask = key_padding_mask(mask, valid)  # (B, 1, n + bs, n + bs)
        v_c = dit(x, t_all, all_pos, mask)[:, n:]  # (B, bs, d)
        if n == 0 or not self.guided:  # no context: the conditional pass already is the unconditional one
            return v_c
        v_u = dit(z, t_tok, torch.arange(n, n + bs, device=self.device), None)
        return v_u + w * (v_c - v_u)

    def _cached_velocity(self, state: _State, z: torch.Tensor, t_tok: torch.Tensor) -> torch.Tensor:
        """One DiT pass over [pending finished block (t = 0) | current block], both branches batched."""
        bs, w = self.bs, self.scfg.cfg
        assert self.model.dit is not None  # `__init__` refuses a Stage-1 model
        assert state.dit_caches is not None  # cached mode: `_start` made the caches
        cached = state.dit_caches[0].length
        x, tt = z, t_tok  # (B, bs, d), (B, bs)
        if state.pending is not None:
            x = torch.cat([state.pending, z], dim=1)  # (B, 2bs, d)
            tt = torch.cat([torch.zeros_like(t_tok), t_tok], dim=1)  # (B, 2bs)
        commit = x.shape[1] - bs
        guided = self.guided and cached + commit > 0  # no context: the unconditional branch is the conditional one
        positions = torch.arange(cached, cached + x.shape[1], device=self.device)
        key = (cached, commit, guided)
        if key not in state.masks:
            state.masks[key] = self._pass_mask(cached, commit, z.shape[0], guided, state.keys_valid(bs))
        mask = state.masks[key]
        v = self.model.dit(
            self._rows(x, guided), self._rows(tt, guided), positions, mask, state.dit_caches, commit=commit
        )[:, commit:]
        state.pending = None
        if not guided:
            return v  # (B, bs, d)
        v_c, v_u = v.chunk(2, dim=0)  # 2 x (B, bs, d)
        return v_u + w * (v_c - v_u)

    def _pass_mask(
        self, cached: int, commit: int, batch: int, guided: bool, valid: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Keys [cache (cached) | pending (commit) | block (bs)] -> mask (T_q, T_k) or (B or 2B, 1, T_q, T_k).

        Conditional rows: the pending block sees the cache and itself, the current block sees everything,
        except padded keys (`valid` (B, T_k), None: no padding). Unconditional rows (guided): each block
        sees only itself.
        """
        bs = self.bs
        t_q, t_k = commit + bs, cached + commit + bs
        if not commit and not guided and valid is None:
            return None
        keys = torch.arange(t_k, device=self.device)[None, :]  # (1, T_k)
        queries = torch.arange(t_q, device=self.device)[:, None] + cached  # (T_q, 1) key index of each query
        block_start = cached + (queries - cached) // bs * bs  # (T_q, 1)
        cond = keys < block_start + bs  # (T_q, T_k): cache, earlier and own block
        if valid is not None:
            cond = key_padding_mask(cond, valid)  # (B, 1, T_q, T_k)
        if not guided:
            return cond
        uncond = (keys >= block_start) & (keys < block_start + bs)  # own block only
        return torch.cat([cond.expand(batch, 1, t_q, t_k), uncond.expand(batch, 1, t_q, t_k)], dim=0)

    def _integrate(self, state: _State, gens: list[torch.Generator]) -> torch.Tensor:
        """ODE from eps at t = 1 to t = 0 in `steps` uniform steps -> clean normalised block (B, bs, d)."""
        d = self.model.latent_dim
        z = torch.stack([torch.randn(self.bs, d, generator=g, device=self.device) for g in gens])  # (B, bs, d)
        pins = None if state.pins is None else state.pins[:, :, None]  # (B, bs, 1)

        def pin(x: torch.Tensor) -> torch.Tensor:
            if pins is None:
                return x
            assert state.pinned is not None  # set together with `state.pins`
            return torch.where(pins, state.pinned, x)

        z = pin(z)
        grid = torch.linspace(1.0, 0.0, self.scfg.steps + 1).tolist()
        for t0, t1 in zip(grid[:-1], grid[1:]):
            v = self._velocity(state, z, t0)
            if self.scfg.solver == "heun":
                z_pred = pin(z + (t1 - t0) * v)
                v = 0.5 * (v + self._velocity(state, z_pred, t1))
            z = pin(z + (t1 - t0) * v)
        return z

    def _decode(
        self, state: _State, zn: torch.Tensor, gens: list[torch.Generator]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode a finished block (B, bs, d) in parallel -> (token ids (B, bs * p), logits (B, bs * p, V))."""
        valid = state.keys_valid(self.bs)
        if self.use_cache:
            logits = self._decoder(self.model.denormalize(zn), state.dec_caches, valid)  # (B, bs*p, V)
        else:
            history = torch.cat([state.ctx, zn], dim=1)  # (B, n + bs, d)
            logits = self._decoder(self.model.denormalize(history), None, valid)[:, state.n * self.p :]  # (B, bs*p, V)
        s = self.scfg
        if s.temperature <= 0:
            return sample_logits(logits), logits  # greedy
        ids = [sample_logits(row, s.temperature, s.top_k, s.top_p, g) for row, g in zip(logits, gens)]
        return torch.stack(ids), logits

    def _decoder(self, z: torch.Tensor, caches: list[KVCache] | None, valid: torch.Tensor | None) -> torch.Tensor:
        """VAE decoder: latents z (B, N, d) after any cached ones -> logits (B, N*p, V); with caches, z is
        stored in them. `valid` (B, past + N) masks padded keys out."""
        return self.model.vae.decoder(z, caches, update_cache=caches is not None, valid=valid)

    def _commit(self, state: _State, zn: torch.Tensor) -> None:
        """Append the clean block to the context; in cached mode the next DiT pass stores it (`pending`)."""
        if self.use_cache:
            state.pending = zn
        state.valid = state.keys_valid(self.bs)
        state.masks.clear()
        state.ctx = torch.cat([state.ctx, zn], dim=1)  # (B, n + bs, d)


def _tokens_only(steps: Generator[Snapshot, None, tuple[list[list[int]], list[torch.Tensor], list[float]]]) -> Steps:
    """The sampler's steps with only the token lists as their result (the latents and fits dropped)."""
    tokens, _, _ = yield from steps
    return tokens


def build_cola_sampler(model: ColaModel, cfg: Config) -> ColaSampler:
    """The family's sampler factory."""
    return ColaSampler(model, cfg)
