"""Cola training objectives (DESIGN.md §3) and the optimizer-side hooks (param groups, lr scales).

Stage 1 (VAE only):  rec CE + beta * KL(q || N(0, I)) + lambda_mask * L_mask.
Stage 2 (joint):     lambda_vae * (rec CE + beta * E_q[log q] + lambda_mask * L_mask)
                     + lambda_fm * L_FM + lambda_ref * KL(q || q_ref).

Every term is per data token in nats: CE is averaged over tokens; the Gaussian terms are summed over
the d channels of a latent, averaged over latents and divided by the patch size p (a latent covers p
tokens), so with beta = 1 the Stage-1 loss is exactly the negative ELBO per token under N(0, I).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cola_core.config import Config
from cola_core.families.cola.boundary import random_phase
from cola_core.families.cola.config import cola_model_config, cola_objective_config, cola_train_config
from cola_core.families.cola.flow import fm_branch
from cola_core.families.cola.model import ColaModel
from cola_core.families.cola.vae import Posterior, measure_logsnr
from cola_core.registry import LossOutput


def kl_to_standard_normal(q: Posterior, patch_size: int) -> torch.Tensor:
    """KL(q || N(0, I)) per token: 0.5 * sum_c (mu^2 + sigma^2 - 1 - logvar), mean over latents, / p."""
    kl = 0.5 * (q.mean.pow(2) + q.logvar.exp() - 1.0 - q.logvar).sum(-1)  # (B, N)
    return kl.mean() / patch_size


def negative_entropy(q: Posterior, patch_size: int) -> torch.Tensor:
    """E_q[log q] per token = -0.5 * sum_c (log(2 pi) + 1 + logvar), mean over latents, / p."""
    ent = 0.5 * (math.log(2 * math.pi) + 1.0 + q.logvar).sum(-1)  # (B, N)
    return -ent.mean() / patch_size


def kl_gaussians(q: Posterior, ref: Posterior, patch_size: int) -> torch.Tensor:
    """KL(q || ref) between diagonal Gaussians, per token (summed over channels, mean over latents, / p)."""
    var_ratio = (q.logvar - ref.logvar).exp()
    mahal = (q.mean - ref.mean).pow(2) / ref.logvar.exp()
    kl = 0.5 * (var_ratio + mahal - 1.0 - (q.logvar - ref.logvar)).sum(-1)  # (B, N)
    return kl.mean() / patch_size


def reconstruction(
    model: ColaModel, z: torch.Tensor, tokens: torch.Tensor, keep: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean token CE of decoding z, token accuracy of the decoder argmax), over the positions `keep` (B, L)
    marks (all when None)."""
    logits = model.vae.decode(z)  # (B, L, V)
    if keep is None:
        ce = F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten())  # over (B*L, V)
        return ce, (logits.argmax(-1) == tokens).float().mean()
    ce = F.cross_entropy(logits[keep].float(), tokens[keep])  # over (kept, V)
    return ce, (logits.argmax(-1) == tokens)[keep].float().mean()


def mask_loss(
    model: ColaModel, tokens: torch.Tensor, mask_ratio: float, mask_id: int, keep: torch.Tensor | None = None
) -> torch.Tensor:
    """BERT-style L_mask: encode with `mask_ratio` of tokens replaced by [MASK]; CE of the originals there
    (only at positions `keep` (B, L) marks, when given)."""
    masked = torch.rand(tokens.shape, device=tokens.device) < mask_ratio  # (B, L)
    if keep is not None:
        masked &= keep
    if not bool(masked.any()):
        masked.view(-1)[torch.randint(masked.numel(), (1,), device=tokens.device)] = True  # (B*L,) view: mask one
    corrupted = torch.where(masked, torch.full_like(tokens, mask_id), tokens)
    logits = model.vae.decode(model.vae.encode(corrupted).sample())  # (B, L, V)
    return F.cross_entropy(logits[masked].float(), tokens[masked])


class ColaObjective:
    """`objective(model, tokens, step) -> LossOutput` for the configured stage (see the module docstring)."""

    def __init__(self, cfg: Config, block_size: int | None = None):
        """`block_size`: train (or evaluate) the prior at this block size only; None: `model.block_size`, or a
        size drawn per call from `train.block_size_probs` when it is set."""
        self.cfg = cfg
        choices = cola_train_config(cfg).block_size_choices()
        if block_size is not None or not choices:
            choices = [(block_size or cola_model_config(cfg).block_size, 1.0)]
        self.block_sizes = [size for size, _ in choices]
        self.block_probs = torch.tensor([prob for _, prob in choices], dtype=torch.float64)

    def draw_block_size(self) -> int:
        """The block size of this micro-batch (from the global torch RNG, so seeded runs repeat it)."""
        if len(self.block_sizes) == 1:
            return self.block_sizes[0]
        return self.block_sizes[int(torch.multinomial(self.block_probs, 1).item())]

    def __call__(self, model: ColaModel, tokens: torch.Tensor, step: int = 0) -> LossOutput:
        m, keep = cola_model_config(self.cfg), None
        if m.boundary == "aware" and m.patch_size > 1 and model.training:
            tokens, keep = random_phase(tokens, m.patch_size, self.cfg.model.pad_id)
        if self.cfg.train.stage == 1:
            return self.stage1(model, tokens, keep)
        return self.stage2(model, tokens, keep)

    def _mask_term(self, model: ColaModel, tokens: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        o = cola_objective_config(self.cfg)
        if o.lambda_mask <= 0:
            return torch.zeros((), device=tokens.device)
        return mask_loss(model, tokens, o.mask_ratio, self.cfg.model.mask_id, keep)

    def stage1(self, model: ColaModel, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> LossOutput:
        """rec CE + beta * KL(q || N(0, I)) + lambda_mask * L_mask; the token terms over `keep` (B, L)."""
        o, p = cola_objective_config(self.cfg), cola_model_config(self.cfg).patch_size
        q = model.vae.encode(tokens)
        rec, acc = reconstruction(model, q.sample(), tokens, keep)
        kl = kl_to_standard_normal(q, p)
        mask_ce = self._mask_term(model, tokens, keep)
        loss = rec + o.beta_kl * kl + o.lambda_mask * mask_ce
        metrics = {
            "rec_ce": rec.item(),
            "kl": kl.item(),
            "mask_ce": mask_ce.item(),
            "recon_acc": acc.item(),
            "logsnr": measure_logsnr(q.mean, q.logvar).item(),
        }
        return LossOutput(loss=loss, metrics=metrics)

    def stage2(self, model: ColaModel, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> LossOutput:
        """Joint VAE + prior loss; with `fixed_vae` the VAE runs without gradients and its terms are dropped.
        The token terms are over `keep` (B, L)."""
        o, p = cola_objective_config(self.cfg), cola_model_config(self.cfg).patch_size
        frozen = cola_train_config(self.cfg).latent_evolution == "fixed_vae"
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            q = model.vae.encode(tokens)
            z0 = q.sample()
        assert model.dit is not None  # a Stage-2 model has its DiT
        block_size = self.draw_block_size()
        fm = fm_branch(model.dit, model.normalize(z0), o, block_size)
        zero = torch.zeros((), device=tokens.device)
        if frozen:
            with torch.no_grad():
                rec, acc = reconstruction(model, z0, tokens, keep)
            neg_ent, mask_ce, ref_kl = negative_entropy(q, p), zero, zero
            loss = o.lambda_fm * fm.loss
        else:
            rec, acc = reconstruction(model, z0, tokens, keep)
            neg_ent = negative_entropy(q, p)
            mask_ce = self._mask_term(model, tokens, keep)
            ref_kl = zero
            if model.ref_encoder is not None:
                with torch.no_grad():
                    ref = model.ref_encoder(tokens)
                ref_kl = kl_gaussians(q, ref, p)
            vae_terms = rec + o.beta_kl * neg_ent + o.lambda_mask * mask_ce
            loss = o.lambda_vae * vae_terms + o.lambda_fm * fm.loss + o.lambda_ref * ref_kl
        metrics = {
            "rec_ce": rec.item(),
            "recon_acc": acc.item(),
            "fm_loss": fm.loss.item(),
            "ref_kl": ref_kl.item(),
            "neg_entropy": neg_ent.item(),
            "mask_ce": mask_ce.item(),
            "logsnr": measure_logsnr(q.mean, q.logvar).item(),
        }
        return LossOutput(loss=loss, metrics=metrics)


def cola_param_groups(model: ColaModel, cfg: Config) -> dict[str, list[nn.Parameter]]:
    """Named groups: `vae` (encoder + decoder) and, in Stage 2, `dit`. The frozen reference is in none."""
    groups = {"vae": [p for p in model.vae.parameters() if p.requires_grad]}
    if model.dit is not None:
        groups["dit"] = list(model.dit.parameters())
    return {name: params for name, params in groups.items() if params}


def cola_lr_scale(cfg: Config, group: str, step: int) -> float:
    """Learning-rate multiplier of a group: `dit` 1; `vae` 1 in Stage 1, `vae_lr_ratio` in Stage 2.

    `fixed_vae` gives the VAE 0; `interval` gives it 0 on every other window of `interval_steps`
    steps, starting frozen (window 0: the DiT first adapts to the Stage-1 latents), then trainable.
    """
    t = cola_train_config(cfg)
    if group != "vae" or t.stage == 1:
        return 1.0
    if t.latent_evolution == "fixed_vae":
        return 0.0
    if t.latent_evolution == "interval" and (step // max(1, t.interval_steps)) % 2 == 0:
        return 0.0
    return t.vae_lr_ratio
