"""`TokenTransformer` <-> Hugging Face Llama: tensor names and config fields (AR and LLaDA share them).

The blocks already are Llama's, so the map renames and splits, it never permutes:
- pre-norm `nn.RMSNorm` (weight only; `eps=None` means the dtype's machine epsilon, fp32's here);
- attention without biases, one key/value head per query head, and one fused `qkv` Linear whose
  output rows are [q | k | v], each head-major (H, Dh), exactly as HF's q/k/v_proj;
- RoPE rotates the pairs (x[..., :Dh/2], x[..., Dh/2:]) with inv_freq = theta^(-2i/Dh), which is
  HF's `rotate_half` convention, so q and k rows need no interleave permutation;
- SwiGLU w2(silu(w1 x) * w3 x): w1 = gate_proj, w3 = up_proj, w2 = down_proj;
- `head` is `lm_head`, absent from the file when tied to the embedding (`tie_word_embeddings`).
"""

from __future__ import annotations

from typing import Any

import torch

from cola_core.config import ConfigError, TokenModelConfig

# Per layer: our name under `stack.blocks.{i}.` -> HF's under `model.layers.{i}.` (qkv is split apart).
_LAYER = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.proj.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.w1.weight": "mlp.gate_proj.weight",
    "mlp.w3.weight": "mlp.up_proj.weight",
    "mlp.w2.weight": "mlp.down_proj.weight",
}
_QKV = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight")
_TOP = {
    "embed.weight": "model.embed_tokens.weight",
    "stack.norm.weight": "model.norm.weight",
    "head.weight": "lm_head.weight",
}


def _names(n_layers: int, tied: bool) -> dict[str, str]:
    """Every one-to-one name pair (ours -> HF) of a model with `n_layers` blocks; qkv excluded."""
    names = {ours: hf for ours, hf in _TOP.items() if not (tied and ours == "head.weight")}
    for i in range(n_layers):
        names.update({f"stack.blocks.{i}.{ours}": f"model.layers.{i}.{hf}" for ours, hf in _LAYER.items()})
    return names


def to_llama_tensors(state: dict[str, torch.Tensor], m: TokenModelConfig) -> dict[str, torch.Tensor]:
    """Our `TokenTransformer` state dict -> HF `LlamaForCausalLM` tensors (the same tensors, renamed;
    qkv split). Raises ValueError on a tensor the map does not know (e.g. a bias), so nothing is dropped."""
    names = _names(m.n_layers, m.tie_embeddings)
    out = {hf: state[ours] for ours, hf in names.items()}
    for i in range(m.n_layers):
        qkv = state[f"stack.blocks.{i}.attn.qkv.weight"]  # (3C, C): rows [q | k | v]
        for hf, part in zip(_QKV, qkv.chunk(3, dim=0)):  # each (C, C), rows head-major (H, Dh)
            out[f"model.layers.{i}.{hf}"] = part
    known = set(names) | {f"stack.blocks.{i}.attn.qkv.weight" for i in range(m.n_layers)}
    unknown = sorted(set(state) - known - ({"head.weight"} if m.tie_embeddings else set()))
    if unknown:
        raise ValueError(f"no Llama name for {unknown[:3]}: the model is not a plain Llama-shaped TokenTransformer")
    return out


def from_llama_tensors(tensors: dict[str, torch.Tensor], m: TokenModelConfig) -> dict[str, torch.Tensor]:
    """HF Llama tensors -> our `TokenTransformer` state dict (the inverse of `to_llama_tensors`)."""
    names = _names(m.n_layers, m.tie_embeddings)
    missing = sorted(set(names.values()) - set(tensors))
    if missing:
        raise ConfigError(f"the Llama checkpoint lacks {missing[:3]}")
    state = {ours: tensors[hf] for ours, hf in names.items()}
    for i in range(m.n_layers):
        parts = [tensors[f"model.layers.{i}.{hf}"] for hf in _QKV]  # 3 x (C, C)
        state[f"stack.blocks.{i}.attn.qkv.weight"] = torch.cat(parts, dim=0)  # (3C, C)
    if m.tie_embeddings:
        state["head.weight"] = state["embed.weight"]
    return state


def llama_config(m: TokenModelConfig, max_positions: int, rms_norm_eps: float) -> dict[str, Any]:
    """The `config.json` of a HF `LlamaForCausalLM` with our model's shape. EOS doubles as BOS: training
    packs documents with EOS between them, so a document starts after an EOS."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": m.vocab_size,
        "hidden_size": m.dim,
        "intermediate_size": m.backbone_ffn(),
        "num_hidden_layers": m.n_layers,
        "num_attention_heads": m.n_heads,
        "num_key_value_heads": m.n_heads,
        "head_dim": m.dim // m.n_heads,
        "hidden_act": "silu",
        "max_position_embeddings": max_positions,
        "rms_norm_eps": rms_norm_eps,
        "rope_theta": m.rope_theta,  # transformers < 5 reads this key, >= 5 reads rope_parameters
        "rope_parameters": {"rope_type": "default", "rope_theta": m.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": m.tie_embeddings,
        "bos_token_id": m.eos_id,
        "eos_token_id": m.eos_id,
        "pad_token_id": m.pad_id,
        "initializer_range": 0.02,
        "use_cache": True,
        "dtype": "float32",
    }


def model_overrides_from_llama(hf: dict[str, Any]) -> dict[str, Any]:
    """`model.*` overrides that rebuild our model from a Llama `config.json` (ConfigError if it is not
    one we can hold: grouped-query attention, biases, another activation or head size)."""
    heads = hf["num_attention_heads"]
    problems = [
        f"{key}={hf.get(key)!r}"
        for key, ok in (
            ("num_key_value_heads", hf.get("num_key_value_heads", heads) == heads),
            ("head_dim", hf.get("head_dim", hf["hidden_size"] // heads) == hf["hidden_size"] // heads),
            ("hidden_act", hf.get("hidden_act", "silu") == "silu"),
            ("attention_bias", not hf.get("attention_bias", False)),
            ("mlp_bias", not hf.get("mlp_bias", False)),
        )
        if not ok
    ]
    if problems:
        raise ConfigError(f"this Llama config does not fit our TokenTransformer ({', '.join(problems)})")
    rope = (hf.get("rope_parameters") or {}).get("rope_theta", hf.get("rope_theta", 10000.0))
    return {
        "model.vocab_size": hf["vocab_size"],
        "model.dim": hf["hidden_size"],
        "model.n_layers": hf["num_hidden_layers"],
        "model.n_heads": heads,
        "model.ffn_hidden": hf["intermediate_size"],
        "model.rope_theta": float(rope),
        "model.tie_embeddings": bool(hf.get("tie_word_embeddings", False)),
        "model.eos_id": hf["eos_token_id"],
        "model.pad_id": hf.get("pad_token_id", hf["eos_token_id"]),
    }


def rms_norm_eps(model: torch.nn.Module) -> float:
    """The epsilon every `nn.RMSNorm` of `model` uses in fp32 (ValueError if they differ)."""
    found = {
        torch.finfo(torch.float32).eps if mod.eps is None else mod.eps
        for mod in model.modules()
        if isinstance(mod, torch.nn.RMSNorm)
    }
    if len(found) != 1:
        raise ValueError(f"expected one RMSNorm epsilon, found {sorted(found)}")
    return found.pop()
