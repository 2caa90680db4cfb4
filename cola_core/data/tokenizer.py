"""Byte-level BPE tokenizers (Hugging Face `tokenizers`): train one, or load any `tokenizer.json`.

Every tokenizer the project uses carries three special tokens, `<eos>`, `<pad>` and `<mask>`;
trained ones have them at ids 0, 1, 2. A loaded tokenizer that lacks them gets them added.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ("<eos>", "<pad>", "<mask>")
_ALIASES = {
    "<eos>": ("<|endoftext|>", "</s>", "[SEP]"),
    "<pad>": ("<|pad|>", "[PAD]"),
    "<mask>": ("[MASK]", "<|mask|>"),
}


@dataclass(frozen=True)
class TextTokenizer:
    """A loaded tokenizer with the project's special-token ids."""

    tokenizer: Tokenizer
    eos_id: int
    pad_id: int
    mask_id: int

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Text -> ids (no special tokens added)."""
        return self.tokenizer.encode(text).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Texts -> ids, in parallel inside the Rust library."""
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text (special tokens dropped)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def to_json(self) -> str:
        """The canonical `tokenizer.json` text."""
        return self.tokenizer.to_str()

    def fingerprint(self) -> str:
        """sha256 of the tokenizer.json text: what manifests and models compare."""
        return tokenizer_hash(self.to_json())


def tokenizer_hash(tokenizer_json: str) -> str:
    """sha256 of a tokenizer.json, normalised through a JSON round trip."""
    canonical = json.dumps(json.loads(tokenizer_json), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _wrap(tok: Tokenizer) -> TextTokenizer:
    ids: dict[str, int] = {}
    for name in SPECIAL_TOKENS:
        found = next((tok.token_to_id(c) for c in (name, *_ALIASES[name]) if tok.token_to_id(c) is not None), None)
        if found is None:
            tok.add_special_tokens([name])
            found = tok.token_to_id(name)
            assert found is not None  # just added
        ids[name] = found
    return TextTokenizer(tok, eos_id=ids["<eos>"], pad_id=ids["<pad>"], mask_id=ids["<mask>"])


def train_bpe(texts: Iterable[str] | Iterator[str], vocab_size: int, min_frequency: int = 2) -> TextTokenizer:
    """Train a byte-level BPE of `vocab_size` tokens (special tokens first) on an iterator of texts."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return _wrap(tok)


def load_tokenizer(path: str | Path) -> TextTokenizer:
    """Load a `tokenizer.json` file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"tokenizer file {str(p)!r} does not exist")
    return _wrap(Tokenizer.from_file(str(p)))


def tokenizer_from_json(text: str) -> TextTokenizer:
    """Load a tokenizer from its JSON text."""
    return _wrap(Tokenizer.from_str(text))
