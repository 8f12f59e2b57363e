#!/usr/bin/env python3
"""Runs every SQL example in docs/*.md and compares its output with the one shown.

In a page, a ```sql block is run; when the next block is a ```text block, that block is the
output the reader is shown, and it must be exactly what psql prints. Each page runs top to
bottom in one session of a fresh database (so later examples see what earlier ones made).

    run_docs.py [--write] PSQL_COMMAND... -- DOC...

--write puts the actual outputs into the pages' text blocks (for writing docs: read the diff
before committing it). Prints "ok - <page>" or "not ok - <page>" with a diff per differing example; exits non-zero if
any page fails.
"""
import difflib
import re
import subprocess
import sys

FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path):
    """(language, first line number, text) of each fenced block of a Markdown file."""
    out, lang, start, lines = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = FENCE.match(line.rstrip("\n"))
            if m and lang is None:
                lang, start, lines = m.group(1), number, []
            elif m and lang is not None and m.group(1) == "":
                out.append((lang, start, "".join(lines)))
                lang = None
            elif lang is not None:
                lines.append(line)
    return out


def examples(path):
    """(line, sql, expected output or None) of each sql block."""
    bs = blocks(path)
    result = []
    for i, (lang, line, text) in enumerate(bs):
        if lang != "sql":
            continue
        expected = bs[i + 1][2] if i + 1 < len(bs) and bs[i + 1][0] == "text" else None
        result.append((line, text, expected))
    return result


def run_page(psql, page, write=False):
    exs = examples(page)
    marker = "@@pg_rollup-doc-example@@"
    script = "".join(f"\\echo {marker}\n{sql}\n" for _, sql, _ in exs)
    proc = subprocess.run(psql + ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                          input=script, capture_output=True, text=True)
    outputs = proc.stdout.split(marker + "\n")[1:]
    if write:
        write_outputs(page, outputs)
    failures = []
    if proc.returncode != 0:
        failures.append(f"psql failed (exit {proc.returncode}) after example {len(outputs)}:\n{proc.stderr}")
    for (line, _sql, expected), got in zip(exs, outputs):
        if expected is not None and got.strip("\n") != expected.strip("\n"):
            diff = difflib.unified_diff(expected.strip("\n").splitlines(), got.strip("\n").splitlines(),
                                        "shown", "actual", lineterm="")
            failures.append(f"{page}:{line}: output differs\n" + "\n".join(diff))
    return len(exs), failures


def write_outputs(page, outputs):
    """Replaces the text block after each sql block with the actual output."""
    lines = open(page, encoding="utf-8").read().split("\n")
    exs = examples(page)
    bs = blocks(page)
    # line numbers (1-based) of text blocks that follow sql blocks, in order
    replacements = {}
    for i, (lang, line, _) in enumerate(bs):
        if lang == "sql" and i + 1 < len(bs) and bs[i + 1][0] == "text":
            replacements[bs[i + 1][1]] = None
    order = sorted(replacements)
    k = 0
    for (line, _sql, expected), got in zip(exs, outputs):
        if expected is not None:
            replacements[order[k]] = got.strip("\n")
            k += 1
    out, i = [], 0
    while i < len(lines):
        if (i + 1) in replacements and replacements[i + 1] is not None:
            out.append(lines[i])
            j = i + 1
            while not FENCE.match(lines[j]) or FENCE.match(lines[j]).group(1) != "":
                j += 1
            out.extend(replacements[i + 1].split("\n"))
            out.append(lines[j])
            i = j + 1
        else:
            out.append(lines[i])
            i += 1
    open(page, "w", encoding="utf-8").write("\n".join(out))


def main():
    args = sys.argv[1:]
    write = args[:1] == ["--write"]
    if write:
        args = args[1:]
    split = args.index("--")
    psql, pages = args[:split], args[split + 1:]
    failed = 0
    for page in pages:
        count, failures = run_page(psql, page, write)
        if failures:
            failed += 1
            print(f"not ok - {page} ({count} examples)")
            for f in failures:
                print("    " + f.replace("\n", "\n    "))
        else:
            print(f"ok - {page} ({count} examples)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
