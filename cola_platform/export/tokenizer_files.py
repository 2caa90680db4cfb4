"""The tokenizer files of an export directory: our `tokenizer.json` plus the small `tokenizer_config.json`
that lets `transformers.AutoTokenizer` load it (as a fast tokenizer with our special tokens)."""

from __future__ import annotations

import json
from typing import Any

from cola_core.data.tokenizer import TextTokenizer

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"


def hf_tokenizer_config(tok: TextTokenizer, max_length: int) -> dict[str, Any]:
    """`tokenizer_config.json`: a `PreTrainedTokenizerFast` over tokenizer.json; EOS doubles as BOS (a
    document starts after EOS) and no special token is added on encode, exactly as our `encode`."""
    name = tok.tokenizer.id_to_token
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": name(tok.eos_id),
        "eos_token": name(tok.eos_id),
        "pad_token": name(tok.pad_id),
        "mask_token": name(tok.mask_id),
        "model_max_length": max_length,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
    }


def tokenizer_files(tok: TextTokenizer, max_length: int) -> dict[str, str]:
    """File name -> text of every tokenizer file an export directory holds."""
    config = json.dumps(hf_tokenizer_config(tok, max_length), indent=2) + "\n"
    return {TOKENIZER_JSON: tok.to_json(), TOKENIZER_CONFIG: config}
