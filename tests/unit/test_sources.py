"""Sources and readers: formats, cleaning, decode policies, streaming, ranges, planning, bad input (no Ray)."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cola_platform.data import hf_cache
from cola_platform.data.manifest import is_validation
from cola_platform.data.readers import ReadOptions, ReadStats, doc_key, read_jsonl, read_txt
from cola_platform.data.sources import Source, resolve_files
from cola_platform.data.units import Unit, iter_unit_docs, plan_units
from cola_platform.errors import UserError


def texts(source: Source) -> list[str]:
    return list(source.texts())


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_txt_jsonl_parquet_directory(tmp_path, caplog):
    (tmp_path / "a.txt").write_text("first\r\ndocument\r\n\n")
    write_jsonl(tmp_path / "b.jsonl", [{"text": "second"}, {"text": "   "}, {"text": "third"}])
    pq.write_table(pa.table({"text": ["fourth", None, "fifth"]}), tmp_path / "c.parquet")
    (tmp_path / "ignored.csv").write_text("x")
    assert texts(Source(f"file:{tmp_path}")) == ["first\ndocument", "second", "third", "fourth", "fifth"]
    assert texts(Source(str(tmp_path / "*.jsonl"))) == ["second", "third"]
    assert "1 file(s) under" in caplog.text and "skipped" in caplog.text  # ignored.csv, said once per listing


def test_text_field_and_its_error(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"body": "hello"}])
    assert texts(Source(f"file:{tmp_path}", text_field="body")) == ["hello"]
    with pytest.raises(UserError, match="no 'text' field.*--text-field"):
        texts(Source(f"file:{tmp_path}"))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "b.parquet")
    with pytest.raises(UserError, match="no column 'content'"):
        texts(Source(str(tmp_path / "b.parquet"), text_field="content"))


def _empty_file(p):
    (p / "e.txt").write_text("")
    return p / "e.txt"


def _dir_without_text(p):
    (p / "d").mkdir()
    (p / "d" / "x.csv").write_text("a")
    return p / "d"


def _csv_file(p):
    (p / "x.csv").write_text("a")
    return p / "x.csv"


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda p: p / "missing.txt", "does not exist"),
        (_empty_file, "is empty"),
        (_dir_without_text, "no .txt/.jsonl/.parquet files"),
        (_csv_file, "is not .txt, .jsonl or .parquet"),
    ],
)
def test_bad_paths(tmp_path, make, fragment):
    with pytest.raises(UserError, match=fragment):
        resolve_files(Source(f"file:{make(tmp_path)}"))


def test_storyworld_needs_num_docs_and_unknown_scheme():
    with pytest.raises(UserError, match="--num-docs"):
        resolve_files(Source("storyworld"))
    with pytest.raises(UserError, match="unsupported scheme"):
        resolve_files(Source("gs://bucket/x"))


def test_strict_decode_names_file_and_byte(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("héllo wörld ".encode() + b"\xff\xfe rest")
    with pytest.raises(UserError, match=r"bad\.txt: not valid UTF-8 at byte 14"):
        texts(Source(f"file:{bad}"))
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"abc\x00def")
    with pytest.raises(UserError, match=r"nul\.txt: NUL byte at byte 3"):
        texts(Source(f"file:{nul}"))


def test_replace_decode_counts(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe fine \xc3")
    stats = ReadStats()
    src = Source(f"file:{tmp_path}", decode_errors="replace")
    unit = plan_units(src, resolve_files(src), 1 << 30, 1, 1)[0]
    docs = list(iter_unit_docs(unit, src, stats))
    assert docs[0].text == "ok \ufffd\ufffd fine \ufffd" and stats.decode_replaced == 3


class CountingReader(io.BytesIO):
    """Records the largest single read, to prove a document is streamed."""

    largest = 0

    def read(self, n=-1):
        data = super().read(n)
        CountingReader.largest = max(CountingReader.largest, len(data))
        return data


def test_huge_document_is_streamed_in_bounded_chunks():
    words = " ".join(f"wörd{i}" for i in range(20000)) + "\r\n"
    data = words.encode()
    stats, budget = ReadStats(), 1000
    CountingReader.largest = 0
    docs = list(
        read_txt(CountingReader(data), "big.txt", "big.txt", len(data), ReadOptions(max_doc_bytes=budget), stats)
    )
    assert CountingReader.largest <= budget and len(docs) > len(data) // budget
    assert all(not d.final for d in docs[:-1]) and docs[-1].final
    assert all(len(d.text.encode()) <= budget + 16 for d in docs)
    assert " ".join(d.text for d in docs).split() == words.split()  # chunks cut at whitespace, nothing lost
    assert stats.streamed_documents == 1 and stats.documents == 1 and stats.chunks == len(docs)


def test_streamed_strict_error_offset_across_chunks():
    data = b"a" * 2500 + b"\xff" + b"b" * 10
    with pytest.raises(UserError, match="at byte 2500"):
        list(read_txt(io.BytesIO(data), "f.txt", "f.txt", len(data), ReadOptions(max_doc_bytes=1000), ReadStats()))


def test_streamed_multibyte_character_split_between_chunks():
    data = ("x" * 999 + "é" + " tail").encode()  # é straddles the 1000-byte boundary
    docs = list(read_txt(io.BytesIO(data), "f.txt", "f.txt", len(data), ReadOptions(max_doc_bytes=1000), ReadStats()))
    assert "".join(d.text for d in docs).replace(" ", "") == "x" * 999 + "étail"


def test_jsonl_byte_ranges_cover_each_record_once(tmp_path):
    recs = [{"text": f"record number {i} " + "pad " * (i % 7)} for i in range(200)]
    path = tmp_path / "r.jsonl"
    write_jsonl(path, recs)
    data, whole = path.read_bytes(), []
    for start in range(0, len(data), 333):
        whole += [
            d.text
            for d in read_jsonl(
                io.BytesIO(data), "r", "r", start, min(start + 333, len(data)), ReadOptions(), ReadStats()
            )
        ]
    assert whole == [r["text"].strip() for r in recs]


def test_jsonl_record_over_budget_is_refused(tmp_path):
    data = json.dumps({"text": "x" * 5000}).encode() + b"\n"
    with pytest.raises(UserError, match="larger than the memory budget"):
        list(read_jsonl(io.BytesIO(data), "r", "r", 0, -1, ReadOptions(max_doc_bytes=1000), ReadStats()))


def test_plan_units_union_is_the_source(tmp_path):
    write_jsonl(tmp_path / "big.jsonl", [{"text": f"doc {i}"} for i in range(300)])
    for i in range(5):
        (tmp_path / f"s{i}.txt").write_text(f"small {i}")
    pq.write_table(pa.table({"text": [f"row {i}" for i in range(100)]}), tmp_path / "p.parquet", row_group_size=10)
    src = Source(f"file:{tmp_path}")
    files = resolve_files(src)
    single = [d.text for u in plan_units(src, files, 1 << 40, 1, 1) for d in iter_unit_docs(u, src)]
    units = plan_units(src, files, 400, 1, 8)
    assert len(units) > 8
    split = [d.text for u in units for d in iter_unit_docs(Unit.from_json(u.to_json()), src)]
    assert sorted(split) == sorted(single) and len(single) == 405


def test_num_docs_truncates_files(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": f"a{i}"} for i in range(10)])
    write_jsonl(tmp_path / "b.jsonl", [{"text": f"b{i}"} for i in range(10)])
    assert texts(Source(f"file:{tmp_path}", num_docs=13)) == [f"a{i}" for i in range(10)] + ["b0", "b1", "b2"]


def test_storyworld_ranges_equal_one_run():
    src = Source("storyworld", num_docs=40, seed=3)
    units = plan_units(src, [], 0, 7, 1)
    assert [u.count for u in units] == [7] * 5 + [5]
    from cola_core.data.storyworld import iter_texts

    assert [d.text for u in units for d in iter_unit_docs(u, src)] == [t.strip() for t in iter_texts(40, seed=3)]


def test_doc_keys_and_split_are_stable():
    assert doc_key("dir/a.jsonl", 120) == doc_key("dir/a.jsonl", 120) != doc_key("dir/a.jsonl", 121)
    assert 0 <= doc_key("x", 0) < 2**63
    share = sum(is_validation(doc_key("f", i), 0.1) for i in range(20000)) / 20000
    assert 0.09 < share < 0.11
    assert abs(sum(is_validation(i, 0.05) for i in range(10000)) - 500) <= 2
    assert not any(is_validation(i, 0.0) for i in range(1000))


def test_hf_cached_snapshot_is_read_without_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    snap = tmp_path / "hf" / "hub" / "datasets--someone--stories" / "snapshots" / "abc123" / "data"
    snap.mkdir(parents=True)
    (snap.parent.parent.parent / "refs").mkdir()
    (snap.parent.parent.parent / "refs" / "main").write_text("abc123")
    pq.write_table(pa.table({"text": ["train one", "train two"]}), snap / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": ["val one"]}), snap / "validation-00000-of-00001.parquet")
    assert texts(Source("hf:someone/stories")) == ["train one", "train two"]
    assert texts(Source("hf:someone/stories:validation")) == ["val one"]
    with pytest.raises(UserError, match="no files for split 'test'"):
        resolve_files(Source("hf:someone/stories:test"))


def test_hf_not_cached_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(hf_cache, "datasets_available", lambda: False)
    with pytest.raises(UserError, match="not in the local Hugging Face cache.*`datasets` package is not installed"):
        resolve_files(Source("hf:nobody/nothing"))


class FakeDataset:
    """The slice of `datasets.Dataset` that hf_cache uses."""

    def __init__(self, rows: list[str]):
        self.rows, self.column_names = rows, ["text", "label"]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, sl: slice) -> dict:
        return {"text": self.rows[sl], "label": [0] * len(self.rows[sl])}


def test_hf_datasets_library_cache_is_used_offline(tmp_path, monkeypatch):
    import sys
    import types

    calls = []

    def load_dataset(name, split):
        import os

        calls.append((name, split, os.environ.get("HF_DATASETS_OFFLINE")))
        if name != "someone/arrow-only":
            raise FileNotFoundError(f"Couldn't find '{name}' on the Hugging Face Hub either")
        return FakeDataset([f"story {i}" for i in range(600)] + [""])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    src = Source("hf:someone/arrow-only", num_docs=500)
    units = plan_units(src, resolve_files(src), 1 << 30, 64, 4)
    assert len(units) == 8 and sum(u.count for u in units) == 500 and units[0].kind == "hf"
    got = [d.text for u in units for d in iter_unit_docs(u, src)]
    assert got == [f"story {i}" for i in range(500)]
    assert calls[0] == ("someone/arrow-only", "train", "1")  # offline mode forced
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        plan_units(Source("hf:someone/missing"), [], 1 << 30, 64, 4)


def test_long_loaded_document_is_tokenized_in_pieces():
    from cola_platform.data.readers import Doc, pieces

    text = " ".join(f"w{i}" for i in range(3000))
    parts = list(pieces(Doc(7, text), limit=1000))
    assert len(parts) > 10 and all(len(p.text) <= 1000 for p in parts)
    assert [p.final for p in parts] == [False] * (len(parts) - 1) + [True] and {p.key for p in parts} == {7}
    assert "".join(p.text for p in parts) == text  # cut before spaces: nothing lost, BPE input unchanged
    assert list(pieces(Doc(1, "short", final=False))) == [Doc(1, "short", final=False)]


def test_streamed_crlf_is_not_doubled_at_chunk_cuts():
    data = ("word " * 150 + "\r\n").encode() * 40
    docs = list(read_txt(io.BytesIO(data), "f.txt", "f.txt", len(data), ReadOptions(max_doc_bytes=700), ReadStats()))
    assert "".join(d.text for d in docs) == data.decode().replace("\r\n", "\n").strip()


def test_a_vocabulary_the_sample_cannot_fill_is_warned_about(caplog):
    from cola_platform.data.prepare import PrepareConfig, get_tokenizer

    cfg = PrepareConfig(source=Source("storyworld", num_docs=10), out="unused", seq_len=16, vocab_size=10_000_000)
    tok = get_tokenizer(cfg, ["a small sample of text", "another small sample"])
    assert tok.vocab_size < 1000
    assert f"the BPE has {tok.vocab_size} tokens, not the 10000000 asked for" in caplog.text
