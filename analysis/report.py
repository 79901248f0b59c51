"""HTML for analysis/report/: one self-contained page per result label, and an index.

analysis/make.py gathers what a page shows (results rows, rendered tables, drawn figures, claim
checks) and calls `label_page` and `index_page`; this module only writes HTML. A page loads
nothing: styles are inline, figures are the SVG files as data: URIs, and a Content-Security-Policy
forbids every other load (a page that tried one would show a console error, which
scripts/check-report fails on). Links to each run's result.json are relative to
analysis/report/, so they work from a checkout. Output is byte-stable: no dates, sorted
inputs, fixed number formats.
"""
import base64
import html
import math
import re
from collections import Counter

# Fields of results.csv that say what produced a result, in the order the page lists them.
PROVENANCE = [
    ("userdp_version", "userdp version"),
    ("git_commit", "git commit"),
    ("git_dirty", "tree modified (git_dirty)"),
    ("git_diff_hash", "diff hash of the modified tree"),
    ("toolchain", "toolchain and OS"),
    ("host", "host"),
    ("openblas_core", "OpenBLAS kernel"),
    ("blas_threads", "BLAS threads per run"),
    ("extra.dataset_hash", "dataset content hash"),
    ("extra.model_hash", "model content hash"),
    ("extra.accountant", "accountant"),
]

# Distinct values listed per provenance field; a modified tree has one diff hash per run.
PROVENANCE_VALUES = 16

STYLE = """
body { font-family: "DejaVu Sans", sans-serif; font-size: 14px; color: #1d1d1f; background: #ffffff; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0; }
h2 { font-size: 18px; border-bottom: 2px solid #3b6ea5; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin-top: 22px; }
h4 { font-size: 14px; margin: 18px 0 6px; }
nav a { margin-right: 14px; }
a { color: #1f5fa0; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; background: #f2f4f7; padding: 1px 3px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid #c9d1db; padding: 3px 7px; vertical-align: top; }
th { background: #e8eef5; text-align: left; }
td.num, th.num { text-align: right; }
tr:nth-child(even) td { background: #f8fafc; }
td.missing, tr:nth-child(even) td.missing { background: #eeeeee; color: #6b6b6b; text-align: center; }
td.incomplete, tr:nth-child(even) td.incomplete { background: #fff1c2; }
p.note { font-size: 12px; color: #4a4a4a; margin: 3px 0; }
.pending { background: #fff1c2; border-left: 5px solid #d49b00; padding: 8px 12px; margin: 10px 0; }
.verdict { font-size: 14px; padding: 6px 10px; border-left: 5px solid #888888; background: #f4f4f4; }
.verdict-reproduced { border-color: #2e7d32; background: #e6f4e7; }
.verdict-not-reproduced { border-color: #c77700; background: #fff1dc; }
.verdict-reversed { border-color: #b3261e; background: #fbe4e2; }
.verdict-pending { border-color: #8a8a8a; background: #f1f1f1; }
figure { margin: 14px 0; }
figure img { width: 760px; max-width: 100%; border: 1px solid #d5dbe3; }
figcaption { font-size: 12px; color: #4a4a4a; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 8px; border: 1px solid #c9d1db; }
"""

NUM = ' class="num"'

# Nothing but inline styles and data: images may load: a page stays self-contained.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def escape(text):
    return html.escape(str(text), quote=True)


def inline(text):
    """Markdown inline markup that make.py and `userdp sweep table` write (**bold**, `code`),
    escaped for HTML."""
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def split_row(line):
    """Cells of a Markdown table line; `\\|` is a literal bar inside a cell."""
    cells, current, index = [], "", 1
    body = line.strip()
    while index < len(body):
        character = body[index]
        if character == "\\" and index + 1 < len(body) and body[index + 1] == "|":
            current += "|"
            index += 2
            continue
        if character == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += character
        index += 1
    return cells


def markdown_table(lines):
    header = split_row(lines[0])
    numeric = [cell.strip().endswith(":") for cell in split_row(lines[1])]
    out = ["<table>", "<thead><tr>" + "".join(
        f"<th{NUM if numeric[i] else ''}>{inline(cell)}</th>" for i, cell in enumerate(header)) + "</tr></thead>", "<tbody>"]
    for line in lines[2:]:
        cells = []
        for i, cell in enumerate(split_row(line)):
            classes = ["num"] if i < len(numeric) and numeric[i] else []
            title = ""
            if cell == "—":
                classes.append("missing")
                title = ' title="no finished run yet"'
            elif "†" in cell:
                classes.append("incomplete")
                title = ' title="incomplete: not every planned learning rate or seed has finished"'
            attributes = (f' class="{" ".join(classes)}"' if classes else "") + title
            cells.append(f"<td{attributes}>{inline(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return out


def verdict_class(text):
    verdict = text[len("**Verdict: "):].lower()
    for word in ("not reproduced", "reproduced", "reversed", "pending"):
        if verdict.startswith(word):
            return "verdict verdict-" + word.replace(" ", "-")
    return "verdict"


def markdown(text, heading_offset=0):
    """The Markdown that this project generates (headings, pipe tables, lines of text) as HTML:
    each text line its own paragraph, as the table notes and claim verdicts are written."""
    lines = text.split("\n")
    out, index = [], 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|"):
            block = []
            while index < len(lines) and lines[index].startswith("|"):
                block.append(lines[index])
                index += 1
            out += markdown_table(block)
            continue
        heading = re.match(r"(#+) (.*)", line)
        if heading:
            level = min(len(heading.group(1)) + heading_offset, 6)
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif line.startswith("**Verdict: "):
            out.append(f'<p class="{verdict_class(line)}">{inline(line)}</p>')
        elif line.startswith("- "):
            out.append(f"<ul><li>{inline(line[2:])}</li></ul>")
        elif line.strip():
            out.append(f'<p class="note">{inline(line)}</p>')
        index += 1
    return out


def number(text, digits):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return escape(text or "")
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}f}"


def data_uri(svg_bytes):
    return "data:image/svg+xml;base64," + base64.b64encode(svg_bytes).decode("ascii")


def pending_box(text):
    return f'<p class="pending"><strong>Pending:</strong> {inline(text)}</p>'


def page(title, body):
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        "<style>" + STYLE + "</style>",
        "</head>",
        "<body>",
        "<main>",
    ] + body + ["</main>", "</body>", "</html>", ""])


def status_section(label, sweeps):
    out = ['<h2 id="status">Status</h2>', "<table>",
           '<thead><tr><th>sweep</th><th>results</th><th class="num">planned runs</th><th class="num">finished</th>'
           '<th class="num">started, no result committed</th><th class="num">not started</th></tr></thead>', "<tbody>"]
    for sweep in sweeps:
        finished = len(sweep["rows"])
        waiting = len(sweep["started"])
        rest = max(sweep["planned"] - finished - waiting - len(sweep["unlisted"]), 0)
        folder = f'../../results/{sweep["name"]}/{label}/'
        link = f'<a href="{escape(folder + "results.csv")}">{escape(folder[6:])}</a>' if finished else escape(folder[6:])
        out.append(f'<tr><td><code>{escape(sweep["sweep"])}</code></td><td>{link}</td><td class="num">{sweep["planned"]}</td>'
                   f'<td class="num">{finished}</td><td class="num">{waiting}</td><td class="num">{rest}</td></tr>')
    out += ["</tbody>", "</table>"]
    if not any(sweep["rows"] for sweep in sweeps):
        commands = "; ".join(f"`userdp sweep run {sweep['sweep']} --label {label}`" for sweep in sweeps)
        out.append(pending_box(f"no results are committed under label {label} yet: every table, figure and claim of this "
                               f"page is pending. {commands} runs them; commit results/ and run `make analysis`."))
    else:
        out.append('<p class="legend">In tables: <span class="missing" style="background:#eeeeee">—</span> no finished run yet; '
                   '<span style="background:#fff1c2">†</span> incomplete: the cell chose among fewer learning rates or seeds '
                   "than planned, and may change when the sweep finishes.</p>")
    return out


def tables_section(tables):
    out = ['<h2 id="tables">Tables</h2>']
    if not tables:
        out.append("<p>No table is declared for this label in analysis/spec.json.</p>")
    for table in tables:
        spec = table["spec"]
        out.append(f'<h3 id="table-{escape(spec["name"])}">{escape(spec["name"])}</h3>')
        out.append(f'<p class="note"><code>{escape(table["command"])}</code></p>')
        if table["markdown"] is None:
            out.append(pending_box(table["pending"]))
            continue
        out += markdown(table["markdown"])
        out.append('<p class="note">Also as ' + ", ".join(
            f'<a href="../tables/{escape(spec["name"])}.{extension}">{name}</a>' for extension, name in (("md", "Markdown"), ("csv", "CSV"), ("tex", "LaTeX"))) + ".</p>")
    return out


def figures_section(figures):
    out = ['<h2 id="figures">Figures</h2>']
    if not figures:
        out.append("<p>No figure is declared for this label in analysis/spec.json.</p>")
    for figure in figures:
        spec = figure["spec"]
        out.append(f'<h3 id="figure-{escape(spec["name"])}">{escape(spec["name"])}</h3>')
        if figure["svg"] is None:
            out.append(pending_box(figure["pending"]))
            continue
        out += ["<figure>", f'<img src="{data_uri(figure["svg"])}" alt="{escape(spec["title"])}">',
                f'<figcaption>{escape(spec["title"])}. Files: <a href="../figures/{escape(spec["name"])}.svg">SVG</a>, '
                f'<a href="../figures/{escape(spec["name"])}.png">PNG</a>.</figcaption>', "</figure>"]
    return out


def claims_section(claims, pending):
    out = ['<h2 id="claims">Claim checks</h2>']
    if claims is None and not pending:
        return out + ["<p>No claim is declared for this label in analysis/spec.json.</p>"]
    if claims is not None:
        out += markdown(claims, heading_offset=2)[1:]  # the page's own heading replaces "# Claim checks"
    for text in pending:
        out.append(pending_box(text))
    return out


def provenance_section(sweeps):
    out = ['<h2 id="provenance">Provenance</h2>',
           "<p>What produced the committed results, from each run's result.json (as gathered in results.csv), "
           "with the number of runs per value. The results record the host's name and OpenBLAS kernel, not the CPU model.</p>"]
    any_rows = False
    for sweep in sweeps:
        if not sweep["rows"]:
            continue
        any_rows = True
        out += [f'<h3>{escape(sweep["sweep"])}</h3>', "<table>", "<thead><tr><th>field</th><th>value (runs)</th></tr></thead>", "<tbody>"]
        for key, name in PROVENANCE:
            counts = sorted(Counter(row.get(key, "") for row in sweep["rows"]).items())
            shown = [f"<code>{escape(value or '—')}</code> ({count})" for value, count in counts[:PROVENANCE_VALUES]]
            if len(counts) > PROVENANCE_VALUES:
                rest = counts[PROVENANCE_VALUES:]
                shown.append(f"and {len(rest)} other values ({sum(count for _, count in rest)} runs; results.csv lists them)")
            values = "<br>".join(shown)
            out.append(f"<tr><td>{escape(name)} <code>{escape(key)}</code></td><td>{values}</td></tr>")
        out += ["</tbody>", "</table>"]
    if not any_rows:
        out.append(pending_box("no finished run, so nothing to report yet."))
    return out


def sort_key(value):
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def runs_section(label, sweeps):
    out = ['<h2 id="runs">Runs</h2>',
           "<p>Every finished run links to its result.json (config, DP event, metrics, provenance) under results/; "
           "a run started but without a committed result links to its config.json.</p>"]
    for sweep in sweeps:
        base = f'../../results/{sweep["name"]}/{label}/runs/'
        out.append(f'<h3>{escape(sweep["sweep"])}</h3>')
        if not sweep["rows"] and not sweep["started"] and not sweep["unlisted"]:
            out.append(pending_box(f"no run of {sweep['sweep']} under label {label} has started or finished yet."))
            continue
        axes = sweep["axes"]
        columns = ["run"] + axes + ["seed", "test perplexity", "validation perplexity", "ε spent", "wall (s)"]
        numeric = [False] * (len(axes) + 1) + [True] * 5
        out += ["<table>", "<thead><tr>" + "".join(f"<th{NUM if n else ''}>{escape(c)}</th>" for c, n in zip(columns, numeric)) + "</tr></thead>", "<tbody>"]
        rows = sorted(sweep["rows"], key=lambda r: [sort_key(r.get(a, "")) for a in axes] + [sort_key(r["seed"]), r["run_id"]])
        for row in rows:
            link = f'<a href="{escape(base + row["run_id"] + "/result.json")}"><code>{escape(row["run_id"])}</code></a>'
            cells = [link] + [escape(row.get(a, "")) for a in axes] + [
                escape(row["seed"]), number(row.get("test_perplexity"), 2), number(row.get("validation_perplexity"), 2),
                number(row.get("epsilon_spent"), 4), number(row.get("wall_seconds"), 0)]
            out.append("<tr>" + "".join(f"<td{NUM if n else ''}>{c}</td>" for c, n in zip(cells, numeric)) + "</tr>")
        out += ["</tbody>", "</table>"]
        if sweep["unlisted"]:
            out.append("<p>Finished, but not in results.csv yet (the next <code>sweep run</code> or <code>sweep table</code> adds them): " + ", ".join(
                f'<a href="{escape(base + run + "/result.json")}"><code>{escape(run)}</code></a>' for run in sweep["unlisted"]) + ".</p>")
        if sweep["started"]:
            out.append(pending_box(f"{len(sweep['started'])} run(s) started without a committed result (running, interrupted or failed "
                                   "when the results were committed)."))
            out.append("<p>" + ", ".join(f'<a href="{escape(base + run + "/config.json")}"><code>{escape(run)}</code></a>' for run in sweep["started"]) + "</p>")
    return out


def label_page(label, sweeps, tables, figures, claims, claims_pending):
    """One label's page. sweeps: dicts with sweep (file), name (results folder), planned (run
    count), rows (finished results.csv rows), axes, started and unlisted (run ids); tables and
    figures: dicts with spec and markdown / svg (None when pending, with the pending text);
    claims: claims.md text or None."""
    finished = sum(len(s["rows"]) for s in sweeps)
    planned = sum(s["planned"] for s in sweeps)
    body = [f"<h1>userdp results · label <code>{escape(label)}</code></h1>",
            f"<p>{finished} of {planned} planned runs finished. Generated by <code>make analysis</code> (analysis/make.py) from the "
            "committed results/ and the declarations in analysis/spec.json; do not edit by hand. Tables keep the sweep files' "
            "spellings (their LaTeX versions write the paper's names); figures are analysis/figures/*.svg, inlined. "
            '<a href="index.html">All labels</a>.</p>',
            '<nav><a href="#status">Status</a><a href="#tables">Tables</a><a href="#figures">Figures</a><a href="#claims">Claims</a>'
            '<a href="#provenance">Provenance</a><a href="#runs">Runs</a></nav>']
    body += status_section(label, sweeps)
    body += tables_section(tables)
    body += figures_section(figures)
    body += claims_section(claims, claims_pending)
    body += provenance_section(sweeps)
    body += runs_section(label, sweeps)
    return page(f"userdp results: {label}", body)


def index_page(labels):
    """The list of label pages. labels: (label, finished, planned, sweep files) in order."""
    body = ["<h1>userdp results</h1>",
            "<p>One page per result label that analysis/spec.json declares, generated by <code>make analysis</code> from the "
            "committed results/. Each page holds that label's tables, figures, claim checks, provenance and a link to every run.</p>",
            "<table>", '<thead><tr><th>label</th><th class="num">finished</th><th class="num">planned runs</th><th>sweeps</th></tr></thead>', "<tbody>"]
    for label, finished, planned, sweeps in labels:
        state = "" if finished else " (pending: no results yet)"
        body.append(f'<tr><td><a href="{escape(label)}.html">{escape(label)}</a>{state}</td><td class="num">{finished}</td>'
                    f'<td class="num">{planned}</td><td>{"<br>".join(f"<code>{escape(s)}</code>" for s in sweeps)}</td></tr>')
    body += ["</tbody>", "</table>"]
    return page("userdp results", body)
