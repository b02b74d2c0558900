#!/usr/bin/env python3
"""Runs the README's walk through the API as written, against a fresh server.

    python3 tests/readme/walk.py README.md http://127.0.0.1:PORT

Takes every fenced `sh` block of the section "A walk through the API" (its subsections
included), in order, as one bash script: variables set in one block are used in the next, as
a reader pasting them into one shell would. Only `B=` (the server's address) is pointed at the
given URL. Every `curl` is checked against what the text says it answers: the first HTTP status
in the comment that ends the command (`... # 422 insufficient-funds`), or any 2xx when the
comment names none. A command answering otherwise, a `jq` that finds nothing, or any other
failing step stops the walk with the README's line number.
"""

import re
import subprocess
import sys

SECTION = "## A walk through the API"

RUNNER = r"""
set -euo pipefail
# curl_at LINE EXPECTED ARGS...: curl ARGS, failing unless the status is EXPECTED (or 2xx).
curl_at() {
    local line=$1 expected=$2 out status
    shift 2
    out=$(command curl -sS -w '\n%{http_code}' "$@") || { echo "README.md:$line: curl failed" >&2; exit 1; }
    status=${out##*$'\n'}
    out=${out%$'\n'*}
    if [[ $expected == 2xx && $status == 2?? ]] || [[ $status == "$expected" ]]; then
        echo "README.md:$line: $status" >&2
    else
        echo "README.md:$line: answered $status, the README says $expected:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
    printf '%s\n' "$out"
}
"""


def walk_blocks(lines):
    """(first line number, lines) of each `sh` block in the walk's section."""
    start = next(i for i, line in enumerate(lines) if line.strip() == SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    blocks, block, first = [], None, 0
    for number in range(start, end):
        line = lines[number]
        if block is None and line.strip() == "```sh":
            block, first = [], number + 2
        elif block is not None and line.strip() == "```":
            blocks.append((first, block))
            block = None
        elif block is not None:
            block.append(line)
    return blocks


def expected_status(lines, index):
    """What the command starting at `lines[index]` answers, by the comment that ends it."""
    quotes = 0
    for line in lines[index:]:
        quotes += line.count("'")
        if quotes % 2 == 0 and not line.rstrip().endswith("\\"):
            comment = line[line.rfind("#"):] if "#" in line.split("'")[-1] else ""
            status = re.search(r"\b([1-5]\d\d)\b", comment)
            return status.group(1) if status else "2xx"
    return "2xx"


def script(blocks, base):
    out = [RUNNER]
    for first, block in blocks:
        for offset, line in enumerate(block):
            number = first + offset
            if line.startswith("B="):
                line = f"B={base}"
            elif re.search(r"(^|[$(|;&]\s*)curl ", line) and not line.lstrip().startswith("#"):
                line = re.sub(r"(^|[$(|;&]\s*)curl ",
                              lambda m: f"{m.group(1)}curl_at {number} {expected_status(block, offset)} ",
                              line)
            out.append(line)
    return "\n".join(out) + "\n"


def main():
    readme, base = sys.argv[1], sys.argv[2].rstrip("/")
    lines = open(readme).read().splitlines()
    blocks = walk_blocks(lines)
    assert blocks, f"no sh blocks under {SECTION!r}"
    text = script(blocks, base)
    assert f"B={base}" in text, "the walk sets no B= to point at the server"
    calls = text.count("curl_at ") - 1
    result = subprocess.run(["bash", "-c", text], stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        sys.exit(f"the README's walk failed (exit {result.returncode})")
    print(f"the README's walk ran as written: {len(blocks)} blocks, {calls} requests, each answered as the text says")


if __name__ == "__main__":
    main()
