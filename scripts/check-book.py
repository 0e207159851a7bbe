#!/usr/bin/env python3
"""check-book.py [--self-test] [BOOK_SRC] — the book's listings must come from code that builds.

The house rule: the book never pastes Rust; it includes it from the compiled
sources by mdBook anchor, so a listing cannot drift from code that passes its
tests. mdBook itself only warns when an include is broken and renders an empty
listing, so this script turns every such case into an error:

  * every {{#include PATH}}, {{#include PATH:ANCHOR}}, {{#include PATH:N:M}}
    (and {{#rustdoc_include ...}}) names a file that exists, resolved from the
    page's directory as mdBook does;
  * the anchor exists (`ANCHOR: name` ... `ANCHOR_END: name`) and holds code;
  * a line range lies inside the file and holds code;
  * no ```rust block holds more than 5 pasted lines;
  * every page listed in SUMMARY.md exists.

Problems print as `book/src/PAGE.md:LINE: message`; exit status 1 if any.
Standard library only: it runs before anything is installed.
"""

import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_PASTED_LINES = 5

# `\{{#include x}}` is mdBook's escape for a literal directive: not an include.
DIRECTIVE = re.compile(r"(?<!\\)\{\{\s*#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([^`]*)$")
SUMMARY_LINK = re.compile(r"\[[^\]]*\]\(([^)]*)\)")
# mdBook's anchor syntax: the marker may sit in any comment style.
ANCHOR = re.compile(r"\bANCHOR:\s*([\w-]+)")
ANCHOR_END = re.compile(r"\bANCHOR_END:\s*([\w-]+)")


def show(path):
    """A path as the reader types it: relative to the repository if inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def check_range(lines, spec):
    """Problems with `N`, `N:M`, `N:` or `:M` (1-based, inclusive), or None if not a range."""
    m = re.fullmatch(r"(\d*)(?::(\d*))?", spec)
    if not m or spec == "":
        return None
    start = int(m.group(1)) if m.group(1) else 1
    if m.group(2) is None:  # `N`: that one line
        end = start
    else:
        end = int(m.group(2)) if m.group(2) else len(lines)
    if start < 1 or end < start or end > len(lines):
        return f"lines {spec} out of range (the file has {len(lines)} lines)"
    if not "".join(lines[start - 1 : end]).strip():
        return f"lines {spec} are empty"
    return ""


def check_anchor(lines, name):
    """Problems with the text between `ANCHOR: name` and `ANCHOR_END: name`."""
    begin = next((i for i, l in enumerate(lines) if (m := ANCHOR.search(l)) and m.group(1) == name), None)
    if begin is None:
        return f"anchor '{name}' not found (no `ANCHOR: {name}` line)"
    end = next((i for i in range(begin + 1, len(lines))
                if (m := ANCHOR_END.search(lines[i])) and m.group(1) == name), None)
    if end is None:
        return f"anchor '{name}' has no `ANCHOR_END: {name}` line"
    # mdBook drops the marker lines of other anchors nested inside.
    body = [l for l in lines[begin + 1 : end] if not (ANCHOR.search(l) or ANCHOR_END.search(l))]
    if not "".join(body).strip():
        return f"anchor '{name}' is empty"
    return ""


def check_include(page, arg):
    """One problem message for `{{#include arg}}` on `page`, or '' when it is fine."""
    path, _, spec = arg.partition(":")
    target = page.parent / path
    if not target.is_file():
        return f"included file not found: {path}"
    if not spec:
        return ""
    lines = target.read_text(errors="replace").splitlines(keepends=True)
    problem = check_range(lines, spec)
    if problem is None:  # not a line range: an anchor name
        problem = check_anchor(lines, spec)
    return f"{path}: {problem}" if problem else ""


def check_page(page):
    """Yield (line number, message) for one page; count includes in check_page.includes."""
    in_rust = None  # (fence, first line, pasted lines) while inside a ```rust block
    fence = None
    for number, line in enumerate(page.read_text(errors="replace").splitlines(), 1):
        for _kind, arg in DIRECTIVE.findall(line):
            check_page.includes += 1
            problem = check_include(page, arg)
            if problem:
                yield number, problem
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            lang = re.split(r"[\s,{]", m.group(2).strip(), maxsplit=1)[0]
            in_rust = [number, 0] if lang in ("rust", "rs") else None
        elif fence is not None and m and m.group(1)[0] == fence[0] \
                and len(m.group(1)) >= len(fence) and not m.group(2).strip():
            if in_rust and in_rust[1] > MAX_PASTED_LINES:
                yield in_rust[0], (f"rust block with {in_rust[1]} pasted lines: include it from "
                                   "compiled code by anchor ({{#include PATH:ANCHOR}})")
            fence = in_rust = None
        elif in_rust is not None and line.strip() and not DIRECTIVE.search(line):
            in_rust[1] += 1


check_page.includes = 0


def check_summary(src):
    summary = src / "SUMMARY.md"
    if not summary.is_file():
        yield summary, 1, "SUMMARY.md not found"
        return
    for number, line in enumerate(summary.read_text().splitlines(), 1):
        for link in SUMMARY_LINK.findall(line):
            link = link.split("#")[0].strip()
            if link and not (src / link).is_file():  # `[Draft]()` has no page yet
                yield summary, number, f"page listed in SUMMARY.md not found: {link}"


def check_book(src):
    """Print every problem; return (pages, includes, problems)."""
    check_page.includes = 0
    problems = list(check_summary(src))
    pages = sorted(src.rglob("*.md"))
    for page in pages:
        problems += [(page, n, msg) for n, msg in check_page(page)]
    for page, number, msg in problems:
        print(f"{show(page)}:{number}: {msg}")
    return len(pages), check_page.includes, len(problems)


def self_test():
    """Build a small book with one of each mistake and check each is reported."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        (src / "code").mkdir(parents=True)
        (src / "code" / "lib.rs").write_text(
            "// ANCHOR: good\nfn good() {}\n// ANCHOR_END: good\n"
            "// ANCHOR: empty\n\n// ANCHOR_END: empty\n"
            "// ANCHOR: unclosed\nfn x() {}\n")
        (src / "SUMMARY.md").write_text("# Summary\n\n- [Good](good.md)\n- [Bad](bad.md)\n"
                                        "- [Gone](gone.md)\n- [Draft]()\n")
        (src / "good.md").write_text(
            "# Good\n```rust\n{{#include code/lib.rs:good}}\n```\n"
            "{{#include code/lib.rs:2}} {{#include code/lib.rs:1:3}} {{#rustdoc_include code/lib.rs}}\n"
            "```rust\nfn short() {}\n```\n\\{{#include not/an/include.rs}}\n")
        (src / "bad.md").write_text(
            "# Bad\n"                                   # line 1
            "{{#include code/missing.rs}}\n"            # 2
            "{{#include code/lib.rs:nosuch}}\n"         # 3
            "{{#include code/lib.rs:empty}}\n"          # 4
            "{{#include code/lib.rs:unclosed}}\n"       # 5
            "{{#include code/lib.rs:7:99}}\n"           # 6
            "```rust,ignore\n" + "let x = 1;\n" * 6 + "```\n")  # 7
        expected = [
            ("SUMMARY.md", 5, "not found: gone.md"),
            ("bad.md", 2, "not found: code/missing.rs"),
            ("bad.md", 3, "anchor 'nosuch' not found"),
            ("bad.md", 4, "anchor 'empty' is empty"),
            ("bad.md", 5, "no `ANCHOR_END: unclosed`"),
            ("bad.md", 6, "out of range"),
            ("bad.md", 7, "6 pasted lines"),
        ]
        found = list(check_summary(src))
        for page in sorted(src.rglob("*.md")):
            found += [(page, n, msg) for n, msg in check_page(page)]
        found = [(p.name, n, msg) for p, n, msg in found]
        missing = [e for e in expected if not any(
            f[0] == e[0] and f[1] == e[1] and e[2] in f[2] for f in found)]
        extra = [f for f in found if not any(
            f[0] == e[0] and f[1] == e[1] and e[2] in f[2] for e in expected)]
        for page, n, text in missing:
            print(f"self-test: not reported: {page}:{n}: ...{text}...")
        for page, n, msg in extra:
            print(f"self-test: reported by mistake: {page}:{n}: {msg}")
        print(f"book check self-test: {len(expected) - len(missing)} of {len(expected)} "
              f"mistakes found, {len(extra)} false alarms")
        return 1 if missing or extra else 0


def main(argv):
    if argv[:1] == ["--self-test"]:
        return self_test()
    src = Path(argv[0]) if argv else REPO / "book" / "src"
    pages, includes, problems = check_book(src)
    print(f"book check: {pages} pages, {includes} includes, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
