"""Boundary-aware patching (`model.boundary = "aware"`): a prompt that ends inside a patch, handled without
misalignment.

With patch size p, latent j covers tokens jp .. jp+p-1, so a prompt of length L with r = L mod p > 0 ends
inside a patch. The paper's sampler (`official`) generates that patch's latent and overwrites the decoder's
first r tokens with the prompt's: the latent never saw them, so its other p - r tokens continue a text it does
not know. `aware` moves the patch grid instead: the sampler left-pads the prompt with (p - r) mod p PAD tokens so
it ends on a patch boundary and every prompt token is encoded. Training makes that padding familiar: every
sequence is shifted right by k ~ U{0, .., p-1} PAD tokens (its last k tokens dropped) and the PAD positions are
left out of every token loss, so the first patch of a sequence holds 0..p-1 PADs, exactly as a padded prompt's
does, and the decoder learns to ignore them. The text itself is unchanged (but for its last k tokens); the patch
grid's phase over it varies. k = 0 is the unshifted sequence, so held-out likelihoods are measured as before.
"""

from __future__ import annotations

import torch


def random_phase(tokens: torch.Tensor, patch_size: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift each row of `tokens` (B, L) right by its own k ~ U{0, .., p-1} (global torch RNG), PAD in front
    -> (shifted tokens (B, L), keep (B, L): False at the PAD positions)."""
    B, L = tokens.shape
    k = torch.randint(patch_size, (B, 1), device=tokens.device)  # (B, 1)
    source = torch.arange(L, device=tokens.device)[None, :] - k  # (B, L) index into the unshifted row
    keep = source >= 0
    shifted = torch.where(keep, tokens.gather(1, source.clamp_min(0)), torch.full_like(tokens, pad_id))
    return shifted, keep


def align_prompt(prompt: list[int], patch_size: int, pad_id: int) -> list[int]:
    """`prompt` left-padded with (p - len mod p) mod p PAD tokens, so that it ends on a patch boundary."""
    return [pad_id] * (-len(prompt) % patch_size) + list(prompt)
