"""The `llama` export format of a `TokenTransformer` family: a Hugging Face Llama checkpoint and back.

Writes `model.safetensors` (HF tensor names), `config.json` (`LlamaForCausalLM`) and, for a causal
model, `generation_config.json`. A bidirectional model (LLaDA) gets the same files minus generation
config, plus `bidirectional: true`, its `mask_token_id` and a note on how to run it.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from cola_core.config import Config, apply_overrides
from cola_core.export import ExportFiles, ExportFormat, tensor_copy
from cola_core.nn.llama_layout import (
    from_llama_tensors,
    llama_config,
    model_overrides_from_llama,
    rms_norm_eps,
    to_llama_tensors,
)
from cola_core.nn.token_model import TokenTransformer, token_model_config

BIDIRECTIONAL_NOTE = (
    "Bidirectional mask predictor, not a causal language model: every position attends to every "
    "position and the model predicts the tokens at mask_token_id positions. LlamaForCausalLM applies a causal "
    "mask by default, which gives meaningless outputs; pass a 4-D all-zero float attention_mask of shape "
    "(batch, 1, T, T) to attend bidirectionally, and sample with a masked-diffusion sampler, not generate()."
)


def generation_config(cfg: Config) -> dict[str, Any]:
    """`generation_config.json`: the run's own sampler settings (temperature 0: greedy), EOS as BOS and stop.
    top_k is always written, since transformers otherwise applies its own default of 50."""
    s, m = cfg.sampler, cfg.model
    ids = {"bos_token_id": m.eos_id, "eos_token_id": m.eos_id, "pad_token_id": m.pad_id}
    if s.temperature <= 0:
        return {**ids, "do_sample": False}
    return {**ids, "do_sample": True, "temperature": s.temperature, "top_k": s.top_k, "top_p": s.top_p}


def llama_format(family: str, build: Callable[[Config], TokenTransformer], bidirectional: bool = False) -> ExportFormat:
    """The `llama` ExportFormat of a family whose model `build(cfg)` is a `TokenTransformer`."""

    def write(model: nn.Module, cfg: Config) -> ExportFiles:
        m = token_model_config(cfg.model)
        tensors = {k: tensor_copy(v) for k, v in to_llama_tensors(model.state_dict(), m).items()}
        config = llama_config(m, cfg.data.seq_len, rms_norm_eps(model))
        files = {"config.json": config}
        if bidirectional:
            config.update(bidirectional=True, mask_token_id=m.mask_id, note=BIDIRECTIONAL_NOTE)
        else:
            files["generation_config.json"] = generation_config(cfg)
        return ExportFiles(tensors={"model.safetensors": tensors}, json=files)

    def read(files: ExportFiles) -> tuple[Config, nn.Module]:
        hf = files.json["config.json"]
        cfg = Config.for_family(family)
        apply_overrides(cfg, model_overrides_from_llama(hf))
        cfg.data.seq_len = hf["max_position_embeddings"]
        if "mask_token_id" in hf:
            cfg.model.mask_id = hf["mask_token_id"]
        model = build(cfg)
        model.load_state_dict(from_llama_tensors(files.tensors["model.safetensors"], token_model_config(cfg.model)))
        return cfg, model.eval()

    kind = "bidirectional mask predictor; see the note in config.json" if bidirectional else "causal LM"
    return ExportFormat(description=f"Hugging Face LlamaForCausalLM checkpoint ({kind})", write=write, read=read)
