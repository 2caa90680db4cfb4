"""Byte-level BPE round trip, special tokens, hashing, and packing documents with EOS."""

import pytest

from cola_core.data.packing import SequencePacker, pack_documents
from cola_core.data.tokenizer import load_tokenizer, tokenizer_from_json, train_bpe

TEXTS = [f"Story {i}: the fox named Ada{i % 7} walked to the river, and smiled!" for i in range(300)]


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, vocab_size=400)


def test_special_tokens_first_and_round_trip(tok):
    assert (tok.eos_id, tok.pad_id, tok.mask_id) == (0, 1, 2)
    assert tok.vocab_size <= 400
    for text in TEXTS[:20] + ["Unseen wörds ünïcode ✓ and numbers 12345."]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode_batch(TEXTS[:3]) == [tok.encode(t) for t in TEXTS[:3]]


def test_save_load_keeps_ids_and_hash(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_json())
    loaded = load_tokenizer(path)
    assert loaded.fingerprint() == tok.fingerprint()
    assert loaded.encode(TEXTS[5]) == tok.encode(TEXTS[5])
    other = train_bpe(TEXTS[:50], vocab_size=300)
    assert other.fingerprint() != tok.fingerprint()


def test_loaded_tokenizer_without_specials_gets_them(tok):
    import json

    data = json.loads(tok.to_json())
    data["added_tokens"] = []
    for name in ("<eos>", "<pad>", "<mask>"):
        data["model"]["vocab"].pop(name)
    bare = tokenizer_from_json(json.dumps(data))
    ids = {bare.eos_id, bare.pad_id, bare.mask_id}
    assert len(ids) == 3 and all(bare.tokenizer.id_to_token(i) in ("<eos>", "<pad>", "<mask>") for i in ids)


def test_packing_is_lossless_up_to_the_tail():
    docs = [[5] * n for n in (3, 10, 1, 7, 20)]
    seqs = list(pack_documents(docs, seq_len=8, eos_id=0))
    flat = [t for d in docs for t in d + [0]]
    assert all(len(s) == 8 for s in seqs)
    assert [t for s in seqs for t in s] == flat[: len(seqs) * 8]
    packer = SequencePacker(8, 0)
    for d in docs:
        packer.add(d)
    assert packer.leftover == len(flat) - len(seqs) * 8
