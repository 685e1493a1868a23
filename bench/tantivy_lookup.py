"""The tantivy baseline of bench/bench_lookup.py: what a user could write in ~30 lines instead of kansoku.

`build DATA INDEX`: one tantivy document per log line, every UUID in the line (as written,
`req-` included) a raw term of the `id` field (doc ids only, no positions), the file number
and byte offset stored. A per-line Python loop, as such a script would be.

`lookup INDEX ID`: open the index, run one term query, read the lines at the stored offsets
and print them: the whole process is timed by the benchmark, like `kansoku trace ID`.

Only plain files are indexed (`.gz` files are skipped: neither `rg -F` nor `grep -F` reads
them either), so sizes are compared per indexed byte.
"""

from __future__ import annotations

import json
import os
import re
import sys

ID_RE = re.compile(rb"(?:req-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def plain_files(data: str) -> list[str]:
    out = []
    for root, _, names in os.walk(data):
        out += [os.path.join(root, n) for n in names if ".log" in n and not n.endswith(".gz")]
    return sorted(out)


def build(data: str, index_dir: str) -> None:
    import tantivy

    os.makedirs(index_dir, exist_ok=True)
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("file", stored=True)
    sb.add_unsigned_field("offset", stored=True)
    schema = sb.build()
    index = tantivy.Index(schema, path=index_dir)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    files = plain_files(data)
    lines = 0
    for file_no, path in enumerate(files):
        offset = 0
        with open(path, "rb") as fh:
            for line in fh:
                ids = [m.decode() for m in ID_RE.findall(line)]
                if ids:
                    writer.add_document(tantivy.Document(id=ids, file=[file_no], offset=[offset]))
                offset += len(line)
                lines += 1
    writer.commit()
    writer.wait_merging_threads()
    with open(os.path.join(index_dir, "files.json"), "w") as fh:
        json.dump(files, fh)
    print(json.dumps({"lines": lines, "files": len(files)}))


def lookup(index_dir: str, wanted: str) -> int:
    import tantivy

    index = tantivy.Index.open(index_dir)
    with open(os.path.join(index_dir, "files.json")) as fh:
        files = json.load(fh)
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.term_query(index.schema, "id", wanted), 10_000).hits
    places = sorted((searcher.doc(addr)["file"][0], searcher.doc(addr)["offset"][0]) for _, addr in hits)
    out = sys.stdout.buffer
    for file_no, offset in places:
        with open(files[file_no], "rb") as fh:
            fh.seek(offset)
            out.write(fh.readline())
    out.flush()
    return 0 if places else 1


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3])
    else:
        sys.exit(lookup(sys.argv[2], sys.argv[3]))
