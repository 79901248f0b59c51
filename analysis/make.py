#!/usr/bin/python3
"""Regenerates every table, figure and claim check that analysis/spec.json declares, from the
committed results/ (docs/RESULTS.md reads the outputs).

Usage: analysis/make.py [--userdp PATH] [--out DIR]

- Tables: `userdp sweep table` in Markdown, CSV and LaTeX (analysis/tables/NAME.{md,csv,tex}).
- Figures: matplotlib (Debian's python3-matplotlib, installed by `make deps`), SVG for papers
  and PNG for the docs (analysis/figures/NAME.{svg,png}). Byte-stable: no dates or software
  names in the files, a fixed SVG hash salt, the bundled DejaVu font.
- Claim checks: analysis/claims.md, one row per claim with the paired test over seeds in each
  cell, Holm's correction across cells, and a verdict.
- Reports: analysis/report/LABEL.html, one self-contained page per result label (tables,
  figures, claim checks, provenance, links to each run's result.json), and an index.html
  (analysis/report.py writes the HTML; scripts/check-report opens them in headless Chromium).
- An entry whose sweep has no committed results yet is listed as pending in
  analysis/README.md and on its label's page, never drawn from nothing.
- Names in figure legends come from `userdp sweep names`, the table the LaTeX tables use.
"""
import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
from collections import defaultdict

# analysis-check diffs this folder against a regeneration: importing report.py must not leave
# a __pycache__ in it.
sys.dont_write_bytecode = True
import report  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

plt.rcParams.update({
    "svg.hashsalt": "userdp-analysis",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
})

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# How axes and values are written in legends: `userdp sweep names` (the table LaTeX tables use),
# read once by main().
NAMES = {"axis": {}, "value": {}}


# The runs each sweep plans, read once per (sweep, label) by load_plan().
PLANS = {}
PLAN_LINE = re.compile(r"^[0-9a-f]{12} \{(.*)\}")


def load_names(userdp):
    PLANS["userdp"] = userdp
    result = subprocess.run([userdp, "sweep", "names"], check=True, cwd=ROOT, capture_output=True, text=True)
    for row in csv.DictReader(result.stdout.splitlines()):
        if row["kind"] == "axis":
            NAMES["axis"][row["key"]] = row["text"]
        else:
            NAMES["value"][(row["key"], row["value"])] = row["text"]


def axis_name(key):
    return NAMES["axis"].get(key) or key.split(".")[-1].replace("_", " ")


def value_name(axis, value):
    return NAMES["value"].get((axis, value)) or NAMES["value"].get(("*", value)) or value


# MARK: - results

def sweep_name(sweep_path):
    with open(os.path.join(ROOT, sweep_path)) as f:
        definition = json.load(f)
    return definition.get("name") or os.path.splitext(os.path.basename(sweep_path))[0]


def results_folder(sweep_path, label):
    return os.path.join(ROOT, "results", sweep_name(sweep_path), label)


def load_rows(sweep_path, label):
    """The rows of a label's results.csv whose result.json is present, or None without results."""
    folder = results_folder(sweep_path, label)
    path = os.path.join(folder, "results.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        rows = [row for row in csv.DictReader(f)
                if os.path.exists(os.path.join(folder, "runs", row["run_id"], "result.json"))]
    return rows or None


def matches(row, where):
    return all(row.get(key) == str(value) for key, value in (where or {}).items())


def load_plan(sweep_path, label):
    """The axis values of every run a sweep plans, one dict per run, as `userdp sweep run
    --dry-run` lists them: the plan `sweep run` executes (grid, excludes, seeds). Only the axes
    that vary appear; a key the sweep holds constant is absent (see plan_matches)."""
    key = (sweep_path, label)
    if key not in PLANS:
        result = subprocess.run([PLANS["userdp"], "sweep", "run", sweep_path, "--dry-run", "--label", label,
                                 "--results", os.path.join(ROOT, "results")], check=True, cwd=ROOT, capture_output=True, text=True)
        runs = [dict(item.split("=", 1) for item in match.group(1).split(", "))
                for match in map(PLAN_LINE.match, result.stdout.splitlines()) if match]
        if not runs:
            raise SystemExit(f"analysis/make.py: `userdp sweep run {sweep_path} --dry-run --label {label}` listed no runs:\n{result.stdout}")
        PLANS[key] = runs
    return PLANS[key]


def plan_matches(run, where):
    """Whether a planned run has the given axis values. A key the run does not list is an axis the
    sweep holds constant, so it cannot tell runs apart and is not compared."""
    return all(run.get(key, str(value)) == str(value) for key, value in (where or {}).items())


def planned_count(sweep_path, label, where):
    return sum(1 for run in load_plan(sweep_path, label) if plan_matches(run, where))


def number(text):
    # "null": a result field that JSON left empty (a run that never halted has no halting step).
    return float(text) if text not in ("", "n/a", "none", "null") else math.nan


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def tuned(rows, cell_keys, tune):
    """For each cell (the values of cell_keys), the tuning value with the lowest mean validation
    perplexity over its seeds, and that setting's rows by seed. Cells with fewer tuning values
    or seeds than others are kept: the tables mark them (†), the claims report n."""
    groups = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        cell = tuple(row.get(key, "") for key in cell_keys)
        groups[cell][row.get(tune, "") if tune else ""][row["seed"]] = row
    best = {}
    for cell, settings in groups.items():
        def score(item):
            values = [number(r["validation_perplexity"]) for r in item[1].values()]
            return (sum(values) / len(values), item[0])
        setting, by_seed = min(settings.items(), key=score)
        best[cell] = (setting, by_seed)
    return best


def mean_std(values):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, s


def series_label(values, keys):
    """A series' name as the study writes it: axes whose values name themselves (mechanism,
    group accounting, selection) by their names, others as `axis = value`; n/a left out."""
    parts = []
    for key in keys:
        value = values.get(key, "")
        if value in ("", "n/a"):
            continue
        # A bare number says nothing without its axis: `k = 4`.
        parts.append(f"{axis_name(key)} = {value}" if is_number(value) and (key, value) not in NAMES["value"] else value_name(key, value))
    return ", ".join(parts)


# MARK: - statistics

def student_t_sf(t, df):
    """P(T > t) for Student's t with df degrees of freedom (regularised incomplete beta)."""
    x = df / (df + t * t)
    p = 0.5 * betainc(df / 2.0, 0.5, x)
    return p if t > 0 else 1 - p


def betainc(a, b, x):
    """Regularised incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes
    §6.4), accurate to about 1e-12 here."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x > (a + 1) / (a + b + 2):
        return 1 - betainc(b, a, 1 - x)
    f, c, d = 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            numerator = 1.0
        elif i % 2 == 0:
            numerator = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            numerator = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 + numerator * d
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + numerator / (c if abs(c) > 1e-300 else 1e-300)
        f *= c * d
        if abs(1 - c * d) < 1e-14:
            break
    return front * (f - 1) / a


def paired_test(differences):
    """Two-sided paired t-test of mean(differences) = 0: (mean, t, p, n)."""
    n = len(differences)
    m, s = mean_std(differences)
    if n < 2:
        return m, math.nan, math.nan, n
    if s == 0:
        return m, math.inf if m != 0 else 0.0, 0.0 if m != 0 else 1.0, n
    t = m / (s / math.sqrt(n))
    return m, t, 2 * student_t_sf(abs(t), n - 1), n


def holm(p_values):
    """Holm's step-down adjusted p-values, in the input order (nan stays nan)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (len(indexed) - rank) * p))
        adjusted[i] = running
    return adjusted


# MARK: - outputs

def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def save_figure(figure, out, name):
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    base = os.path.join(out, "figures", name)
    figure.tight_layout()
    figure.savefig(base + ".svg", metadata={"Date": None, "Creator": None})
    figure.savefig(base + ".png", metadata={"Software": None}, dpi=110)
    plt.close(figure)


def make_table(spec, label, userdp, out):
    table_label = spec.get("label", label)
    if load_rows(spec["sweep"], table_label) is None:
        return f"table `{spec['name']}`: no results for {spec['sweep']} under label {table_label} yet"
    for extension, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
        arguments = [userdp, "sweep", "table", spec["sweep"], "--label", table_label, "--results", os.path.join(ROOT, "results"),
                     "--format", fmt, "--output", os.path.join(out, "tables", f"{spec['name']}.{extension}")] + table_options(spec)
        os.makedirs(os.path.join(out, "tables"), exist_ok=True)
        subprocess.run(arguments, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return None


def figure_metric_vs_axis(spec, rows, label):
    figure, axes = plt.subplots()
    keys = spec["series"]
    reference = [r for r in rows if matches(r, spec.get("reference"))]
    private = [r for r in rows if r not in reference]
    best = tuned(private, keys + [spec["x"]], spec.get("tune"))
    counts = defaultdict(int)
    for row in private:
        counts[tuple(row.get(k, "") for k in keys + [spec["x"]])] += 1
    by_series = defaultdict(list)
    for cell, (_, by_seed) in best.items():
        values = [number(r["test_perplexity"]) for r in by_seed.values()]
        m, s = mean_std(values)
        where = dict(zip(keys + [spec["x"]], cell))
        planned = sum(1 for run in load_plan(spec["sweep"], label)
                      if plan_matches(run, where) and not (spec.get("reference") and plan_matches(run, spec["reference"])))
        by_series[cell[:-1]].append((number(cell[-1]), m, s, counts[cell] >= planned))
    incomplete = False
    for index, series in enumerate(sorted(by_series)):
        points = sorted(by_series[series])
        color = f"C{index}"
        axes.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                      color=color, marker="o", capsize=3, label=series_label(dict(zip(keys, series)), keys))
        # Cells still missing planned learning rates or seeds: hollow markers.
        partial = [p for p in points if not p[3]]
        if partial:
            incomplete = True
            axes.plot([p[0] for p in partial], [p[1] for p in partial], linestyle="none", marker="o", markersize=7,
                      markerfacecolor="white", markeredgecolor=color, zorder=5)
    if reference:
        ref = tuned(reference, ["mechanism"], spec.get("tune"))
        for _, (_, by_seed) in ref.items():
            m, _ = mean_std([number(r["test_perplexity"]) for r in by_seed.values()])
            axes.axhline(m, color="gray", linestyle="--", label=value_name("mechanism", "nonprivate"))
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.set_xlabel("ε (user level)" + ("; hollow: cell not finished yet" if incomplete else ""))
    axes.set_ylabel("test perplexity")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7)
    return figure


def figure_best_axis(spec, rows, label):
    figure, axes = plt.subplots()
    keys = spec["series"]
    best = tuned(rows, keys + [spec["x"], spec["best_of"]], spec.get("tune"))
    choice = {}
    for cell, (_, by_seed) in best.items():
        validation, _ = mean_std([number(r["validation_perplexity"]) for r in by_seed.values()])
        key = cell[:-1]
        if key not in choice or validation < choice[key][0]:
            choice[key] = (validation, number(cell[-1]))
    by_series = defaultdict(list)
    for key, (_, k) in choice.items():
        by_series[key[:-1]].append((number(key[-1]), k))
    for series in sorted(by_series):
        points = sorted(by_series[series])
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=series_label(dict(zip(keys, series)), keys))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.set_xlabel("ε (user level)")
    axes.set_ylabel(f"best {spec['best_of']}")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7)
    return figure


def figure_bars(spec, rows, label):
    figure, axes = plt.subplots()
    keys = spec["series"]
    best = tuned(rows, keys + spec["bars"], spec.get("tune"))
    bars = sorted({cell[len(keys):] for cell in best})
    series = sorted({cell[:len(keys)] for cell in best})
    width = 0.8 / max(len(series), 1)
    for index, s in enumerate(series):
        xs, ms, ss = [], [], []
        for position, bar in enumerate(bars):
            if s + bar in best:
                m, sd = mean_std([number(r["test_perplexity"]) for r in best[s + bar][1].values()])
                xs.append(position + index * width)
                ms.append(m)
                ss.append(sd)
        axes.bar(xs, ms, width=width, yerr=ss, capsize=2, label=series_label(dict(zip(keys, s)), keys))
    axes.set_xticks([p + 0.4 - width / 2 for p in range(len(bars))])
    axes.set_xticklabels([", ".join(v for v in bar if v not in ("", "n/a")) for bar in bars], rotation=30, ha="right", fontsize=7)
    low = min((p.get_height() for p in axes.patches), default=0)
    axes.set_ylim(bottom=low * 0.97 if low > 0 else 0)
    axes.set_ylabel("test perplexity")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7)
    return figure


def figure_halting(spec, rows, label):
    rows = [r for r in rows if matches(r, spec.get("where"))]
    figure, (left, right) = plt.subplots(1, 2)
    steps = defaultdict(list)
    passes = defaultdict(list)
    for row in rows:
        series = tuple(row.get(k, "") for k in spec["series"])
        tau = number(row[spec["x"]])
        halted = row.get("extra.asi_liu_halted_at_step", "")
        steps[series].append((tau, number(halted) if halted not in ("", "none", "null") else number(row.get("extra.asi_liu_steps_run", "nan"))))
        passes[series].append((tau, number(row.get("extra.asi_liu_pass_rate", "nan"))))
    for series in sorted(steps):
        for axes, data in ((left, steps[series]), (right, passes[series])):
            grouped = defaultdict(list)
            for tau, value in data:
                grouped[tau].append(value)
            xs = sorted(grouped)
            axes.plot(xs, [mean_std(grouped[x])[0] for x in xs], marker="o", label=f"ε = {series[0]}")
    for axes, label in ((left, "halting step (or last step)"), (right, "pass rate")):
        axes.set_xscale("log")
        axes.set_xlabel("τ")
        axes.set_ylabel(label)
        axes.legend(fontsize=7)
    figure.suptitle(spec["title"], fontsize=8)
    return figure


def figure_curves(spec, rows, folder):
    figure, axes = plt.subplots()
    keys = spec["series"]
    for row in sorted((r for r in rows if matches(r, spec.get("where"))), key=lambda r: tuple(r.get(k, "") for k in keys)):
        path = os.path.join(folder, "runs", row["run_id"], "curve.csv")
        if not os.path.exists(path):
            continue
        with open(path, newline="") as f:
            points = [(int(p["step"]), float(p["validation_perplexity"])) for p in csv.DictReader(f) if p["validation_perplexity"]]
        base = number(row.get("extra.base_validation_perplexity", "nan"))
        if not math.isnan(base):
            points = [(0, base)] + points
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=series_label(row, keys))
    axes.set_xlabel("step")
    axes.set_ylabel("validation perplexity")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7)
    return figure


def figure_per_user(spec, userdp, out):
    csv_path = os.path.join(out, "tables", f"{spec['name']}.csv")
    os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    result = subprocess.run([userdp, "privacy", "per-user", "--dataset", spec["dataset"], "--q", str(spec["q"]), "--sigma", str(spec["sigma"]),
                             "--steps", str(spec["steps"]), "--delta", str(spec["delta"]), "--group-size", str(spec["group_size"]),
                             "--csv", csv_path, "--json"], check=True, cwd=ROOT, capture_output=True, text=True)
    per_user = json.loads(result.stdout)
    with open(csv_path, newline="") as f:
        epsilons = sorted(float(r["epsilon"]) for r in csv.DictReader(f))
    finite = [e for e in epsilons if math.isfinite(e)]
    figure, axes = plt.subplots()
    n = len(epsilons)
    infinite = n - len(finite)
    axes.step(finite, [(i + 1) / n for i in range(len(finite))], where="post",
              label=value_name("mechanism", "record") + ", per user" + (f" ({infinite} of {n}: no finite ε)" if infinite else ""))
    axes.axvline(per_user["user_wise_epsilon"], color="C1", linestyle="--", label=value_name("mechanism", "user") + " (every user)")
    axes.axvline(per_user["group_privacy_epsilon"], color="C2", linestyle=":",
                 label=f"{value_name('mechanism', 'group')}, k = {spec['group_size']} (every user)")
    axes.set_xscale("log")
    axes.set_xlabel("user-level ε at δ = %g" % spec["delta"])
    axes.set_ylabel("fraction of users")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7, loc="lower right")
    return figure


# MARK: - claims

def cell_size(rows, assignment, cell_key, value):
    return sum(1 for r in rows if r.get(cell_key) == value and all(r.get(k) == str(v) for k, v in assignment.items()))


def claim_cells(spec, rows, label):
    """One line per cell that either side plans: (value, tuned lr better, tuned lr worse, Δ mean,
    t, p, seeds, complete). A cell neither side plans (the non-private reference's ε = n/a) is
    not a cell of the claim; a planned cell without runs on a side is kept, as incomplete."""
    where = spec.get("where") or {}
    rows = [r for r in rows if matches(r, where)]
    keys = list(spec["better"].keys() | spec["worse"].keys())
    cell_key = spec["cells"]
    best = tuned(rows, sorted(keys) + [cell_key], spec.get("tune"))
    lines = []
    sides = (spec["better"], spec["worse"])
    planned = [run for run in load_plan(spec["sweep"], label) if plan_matches(run, where) and any(plan_matches(run, side) for side in sides)]
    values = {run[cell_key] for run in planned if cell_key in run}
    values |= {row.get(cell_key, "") for row in rows if any(matches(row, side) for side in sides)}
    # Numeric cells (epsilon) in numeric order, text cells (a dataset name) after them by name.
    cells = sorted(values, key=lambda v: (0, number(v), v) if is_number(v) else (1, 0.0, v))
    for value in cells:
        def side(assignment):
            for cell, (setting, by_seed) in best.items():
                probe = dict(zip(sorted(keys) + [cell_key], cell))
                if cell[-1] == value and all(probe.get(k) == str(v) for k, v in assignment.items()):
                    return setting, by_seed
            return None
        better, worse = side(spec["better"]), side(spec["worse"])
        if not better or not worse:
            # A cell with runs on one side only: no test yet, and the claim stays pending.
            lines.append((value, better[0] if better else "—", worse[0] if worse else "—", math.nan, math.nan, math.nan, 0, False))
            continue
        seeds = sorted(set(better[1]) & set(worse[1]), key=int)
        differences = [number(worse[1][s]["test_perplexity"]) - number(better[1][s]["test_perplexity"]) for s in seeds]
        complete = all(cell_size(rows, side, cell_key, value) >= sum(1 for run in planned if plan_matches(run, {**side, cell_key: value}))
                       for side in sides)
        lines.append((value, better[0], worse[0]) + paired_test(differences) + (complete,))
    return lines


def verdict(cells, adjusted, alpha=0.05):
    if not cells:
        return "pending"
    signs = [c[3] for c in cells]
    significant = [i for i, p in enumerate(adjusted) if not math.isnan(p) and p < alpha]
    if all(s > 0 for s in signs) and any(signs[i] > 0 for i in significant):
        return "reproduced"
    if all(s < 0 for s in signs) and any(signs[i] < 0 for i in significant):
        return "reversed"
    return "not reproduced"


def claim_comparison(spec, rows, label):
    cells = claim_cells(spec, rows, label)
    adjusted = holm([c[5] for c in cells])
    lines = [f"| {spec['cells']} = {c[0]}{'' if c[7] else ' †'} | {c[1]} / {c[2]} | {c[3]:+.3f} | {c[4]:.2f} | {c[5]:.3f} | {a:.3f} | {c[6]} |"
             if c[6] else f"| {spec['cells']} = {c[0]} † | {c[1]} / {c[2]} | — | — | — | — | 0 |"
             for c, a in zip(cells, adjusted)]
    tested = [(c, a) for c, a in zip(cells, adjusted) if c[6]]
    result = verdict([c for c, _ in tested], [a for _, a in tested])
    if any(not c[7] for c in cells):
        # A verdict from cells whose tuning or seeds are not all in could flip when they are.
        result = f"pending (incomplete cells, marked †; so far it reads: {result})"
    note = ""
    emphasis = spec.get("emphasis")
    if emphasis and cells:
        low = [c[3] for c in cells if number(c[0]) <= emphasis["at_most"]]
        high = [c[3] for c in cells if number(c[0]) > emphasis["at_most"]]
        if low and high:
            note = f" Mean gap at {emphasis['axis']} ≤ {emphasis['at_most']}: {sum(low) / len(low):+.3f}; above: {sum(high) / len(high):+.3f}."
    return result, lines, note


def claim_best_axis_grows(spec, rows, label):
    best = tuned(rows, [spec["series"], spec["along"], spec["axis"]], spec.get("tune"))
    choice = {}
    for (series, along, value), (_, by_seed) in best.items():
        validation, _ = mean_std([number(r["validation_perplexity"]) for r in by_seed.values()])
        if (series, along) not in choice or validation < choice[(series, along)][0]:
            choice[(series, along)] = (validation, value)
    lines, outcomes = [], []
    for series in sorted({s for s, _ in choice}):
        path = sorted(((number(a), number(v[1])) for (s, a), v in choice.items() if s == series))
        lines.append(f"| {series} | " + ", ".join(f"ε {a:g}: k {k:g}" for a, k in path) + " | | | | | |")
        if len(path) >= 2:
            outcomes.append((path[-1][1] > path[0][1]) - (path[-1][1] < path[0][1]))
    if not outcomes:
        return "pending", lines, ""
    if all(o > 0 for o in outcomes):
        result = "reproduced"
    elif all(o < 0 for o in outcomes):
        result = "reversed"
    else:
        result = "not reproduced"
    return until_complete(spec, rows, label, result), lines, ""


def until_complete(spec, rows, label, result):
    """The verdict, or pending while the claim's sweep has planned runs without a result: a
    verdict read from part of a grid can change when the rest arrives."""
    planned = planned_count(spec["sweep"], label, spec.get("where"))
    finished = sum(1 for r in rows if matches(r, spec.get("where")))
    if finished < planned:
        return f"pending ({finished} of {planned} planned runs; so far it reads: {result})"
    return result


def claim_halts(spec, rows, label):
    rows = [r for r in rows if matches(r, spec.get("where"))]
    if not rows:
        return "pending", [], ""
    halted = [r for r in rows if r.get("extra.asi_liu_halted", "") in ("true", "1", "1.0")]
    share = len(halted) / len(rows)
    lines = [f"| all τ, ε, learning rates, seeds | | {share:.2f} halted | | | | {len(rows)} |"]
    result = "reproduced" if share >= spec["often"] else "not reproduced"
    return until_complete(spec, rows, label, result), lines, f" {len(halted)} of {len(rows)} runs halted."


def make_claims(specs, label, out):
    text = ["# Claim checks", "",
            "Generated by analysis/make.py from results/ (label `%s`). Each comparison pairs seeds at each side's tuned learning "
            "rate (lowest mean validation perplexity); Δ = worse − better in test perplexity (positive: the claim's direction); "
            "two-sided paired t-test over seeds, Holm-adjusted across the claim's cells. Verdict: reproduced when every cell "
            "points the claim's way and at least one is significant at 0.05 after Holm; reversed when every cell points the "
            "other way with one significant; not reproduced otherwise. With 3 seeds a cell needs |t| > 4.30 to be significant. A cell marked † does not yet hold every planned run of either side; a claim with such a cell is pending, as is a halting or best-k claim while its sweep has planned runs without a result. Planned runs are those `userdp sweep run --dry-run` lists." % label, ""]
    pending = {}
    summary = ["| finding | whose | verdict | cells |", "| --- | --- | --- | ---: |"]
    for spec in specs:
        rows = load_rows(spec["sweep"], label)
        owner_short = "the study" if spec.get("study") else "ours"
        if rows is None:
            pending[spec["name"]] = f"claim `{spec['name']}`: no results for {spec['sweep']} under label {label} yet"
            summary.append(f"| {spec['name']} | {owner_short} | pending (no results) | 0 |")
            continue
        kind = spec.get("kind", "comparison")
        if kind == "best-axis-grows":
            result, lines, note = claim_best_axis_grows(spec, rows, label)
        elif kind == "halts":
            result, lines, note = claim_halts(spec, rows, label)
        else:
            result, lines, note = claim_comparison(spec, rows, label)
        owner = "the study's finding" if spec.get("study") else "our own finding, not in the study"
        text += [f"## {spec['name']} ({owner})", "", f"**Verdict: {result}.**{note}", "",
                 "| cell | tuned lr (better / worse) | Δ mean | t | p | p (Holm) | seeds |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        text += lines + [""]
        summary.append(f"| {spec['name']} | {owner_short} | {result} | {len(lines)} |")
    write_text(os.path.join(out, "claims.md"), "\n".join(text))
    write_text(os.path.join(out, "summary.md"), "\n".join(summary) + "\n")
    return pending


RESULTS_DOC = os.path.join(ROOT, "docs/RESULTS.md")
SUMMARY_BEGIN = "<!-- claims summary: generated by analysis/make.py from analysis/summary.md; do not edit -->"
SUMMARY_END = "<!-- end of claims summary -->"


def results_doc_parts():
    """docs/RESULTS.md split around its generated claims block: (before, block, after)."""
    with open(RESULTS_DOC) as f:
        text = f.read()
    if SUMMARY_BEGIN not in text or SUMMARY_END not in text:
        sys.exit(f"{RESULTS_DOC}: the markers of the generated claims summary are missing ({SUMMARY_BEGIN!r} ... {SUMMARY_END!r})")
    before, rest = text.split(SUMMARY_BEGIN, 1)
    block, after = rest.split(SUMMARY_END, 1)
    return before, block, after


def splice_summary(out):
    """Writes analysis/summary.md (the verdict per claim) into docs/RESULTS.md between its markers."""
    with open(os.path.join(out, "summary.md")) as f:
        summary = f.read()
    before, _, after = results_doc_parts()
    write_text(RESULTS_DOC, before + SUMMARY_BEGIN + "\n" + summary + SUMMARY_END + after)


def check_summary():
    """Exits 1 when docs/RESULTS.md's claims block differs from the committed analysis/summary.md."""
    with open(os.path.join(ROOT, "analysis/summary.md")) as f:
        summary = f.read()
    _, block, _ = results_doc_parts()
    if block != "\n" + summary:
        sys.exit("docs/RESULTS.md: the claims summary differs from analysis/summary.md: run make analysis and commit it")
    print("docs/RESULTS.md claims summary is up to date")


def table_options(spec):
    """The `userdp sweep table` options a table spec declares: axes, metric and tuning."""
    options = ["--rows", spec["rows"], "--cols", spec["cols"]]
    if spec.get("metric"):
        options += ["--metric", spec["metric"]]
    if spec.get("select_best_by"):
        options += ["--select-best-by", spec["select_best_by"], "--over", spec["over"]]
    return options


def table_command(spec, label):
    """The `userdp sweep table` command that prints a table (without the output options)."""
    return " ".join(["userdp", "sweep", "table", spec["sweep"], "--label", label] + table_options(spec))


def sweep_state(sweep_path, label):
    """What a label's page says about one sweep: planned run count, finished rows, its axes,
    and the run folders that hold a config but no result (started) or a result that
    results.csv does not list yet (unlisted)."""
    folder = results_folder(sweep_path, label)
    rows = load_rows(sweep_path, label) or []
    axes = []
    csv_path = os.path.join(folder, "results.csv")
    if os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            header = next(csv.reader(f))
        axes = header[1:header.index("seed")]
    listed = {row["run_id"] for row in rows}
    runs = os.path.join(folder, "runs")
    started, unlisted = [], []
    for run in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
        if os.path.exists(os.path.join(runs, run, "result.json")):
            if run not in listed:
                unlisted.append(run)
        elif os.path.exists(os.path.join(runs, run, "config.json")):
            started.append(run)
    return {"sweep": sweep_path, "name": sweep_name(sweep_path), "planned": len(load_plan(sweep_path, label)), "rows": rows,
            "axes": axes, "started": started, "unlisted": unlisted}


def make_reports(spec, pending, userdp, out):
    """analysis/report/LABEL.html for every label spec.json names, and index.html."""
    default = spec["label"]
    entries = [("table", t) for t in spec["tables"]] + [("figure", f) for f in spec["figures"]] + [("claim", c) for c in spec["claims"]]
    labels = sorted({default} | {entry.get("label", default) for _, entry in entries})
    summary = []
    for label in labels:
        mine = [(kind, entry) for kind, entry in entries if entry.get("label", default) == label]
        sweeps = []
        for _, entry in mine:
            if entry.get("sweep") and entry["sweep"] not in sweeps:
                sweeps.append(entry["sweep"])
        states = [sweep_state(sweep, label) for sweep in sweeps]
        tables = []
        for kind, entry in mine:
            if kind != "table":
                continue
            text = None
            if entry["name"] not in pending["table"]:
                with open(os.path.join(out, "tables", entry["name"] + ".md")) as f:
                    text = f.read()
            tables.append({"spec": entry, "command": table_command(entry, label), "markdown": text, "pending": pending["table"].get(entry["name"])})
        figures = []
        for kind, entry in mine:
            if kind != "figure":
                continue
            svg = None
            if entry["name"] not in pending["figure"]:
                with open(os.path.join(out, "figures", entry["name"] + ".svg"), "rb") as f:
                    svg = f.read()
            figures.append({"spec": entry, "svg": svg, "pending": pending["figure"].get(entry["name"])})
        claims, claims_pending = None, []
        if any(kind == "claim" for kind, _ in mine):
            with open(os.path.join(out, "claims.md")) as f:
                claims = f.read()
            claims_pending = [pending["claim"][entry["name"]] for kind, entry in mine if kind == "claim" and entry["name"] in pending["claim"]]
        write_text(os.path.join(out, "report", label + ".html"), report.label_page(label, states, tables, figures, claims, claims_pending))
        summary.append((label, sum(len(s["rows"]) for s in states), sum(s["planned"] for s in states), sweeps))
    write_text(os.path.join(out, "report", "index.html"), report.index_page(summary))
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--userdp", default=os.path.join(ROOT, ".build/release/userdp"))
    parser.add_argument("--out", default=os.path.join(ROOT, "analysis"))
    parser.add_argument("--check-doc", action="store_true",
                        help="only check that docs/RESULTS.md holds the committed analysis/summary.md")
    parser.add_argument("--splice-doc", action="store_true",
                        help="only write the committed analysis/summary.md into docs/RESULTS.md")
    arguments = parser.parse_args()
    if arguments.check_doc:
        return check_summary()
    if arguments.splice_doc:
        return splice_summary(os.path.join(ROOT, "analysis"))
    with open(os.path.join(ROOT, "analysis/spec.json")) as f:
        spec = json.load(f)
    load_names(arguments.userdp)
    label = spec["label"]
    pending = {"table": {}, "figure": {}, "claim": {}}
    for table in spec["tables"]:
        missing = make_table(table, label, arguments.userdp, arguments.out)
        if missing:
            pending["table"][table["name"]] = missing
    drawers = {"metric-vs-axis": figure_metric_vs_axis, "best-axis": figure_best_axis, "bars": figure_bars, "halting": figure_halting}
    for figure_spec in spec["figures"]:
        kind = figure_spec["kind"]
        if kind == "per-user":
            save_figure(figure_per_user(figure_spec, arguments.userdp, arguments.out), arguments.out, figure_spec["name"])
            continue
        figure_label = figure_spec.get("label", label)
        rows = load_rows(figure_spec["sweep"], figure_label)
        if rows is None:
            pending["figure"][figure_spec["name"]] = f"figure `{figure_spec['name']}`: no results for {figure_spec['sweep']} under label {figure_label} yet"
            continue
        if kind == "curves":
            figure = figure_curves(figure_spec, rows, results_folder(figure_spec["sweep"], figure_label))
        else:
            figure = drawers[kind](figure_spec, rows, figure_label)
        save_figure(figure, arguments.out, figure_spec["name"])
    pending["claim"] = make_claims(spec["claims"], label, arguments.out)
    labels = make_reports(spec, pending, arguments.userdp, arguments.out)
    index = ["# analysis/", "", "Generated by `make analysis` (analysis/make.py) from results/ with the declarations in "
             "analysis/spec.json. Do not edit the outputs by hand: CI regenerates them and fails when they differ.", "",
             "- tables/: Markdown, CSV and LaTeX of each table. Markdown and CSV keep the sweep files' spellings "
             "(`group`, `epsilon`); LaTeX (booktabs) writes the paper's names (Group Privacy, $\\varepsilon$) from "
             "`userdp sweep names`, leaves a row label equal to the one above it blank, and nests two or more column "
             "axes under `\\cmidrule` groups (docs/SWEEPS.md, \"Paper tables\")",
             "- figures/: SVG (papers) and PNG (docs) of each figure",
             "- claims.md: the study's findings checked against the results; summary.md: one verdict per claim, "
             "which `make analysis` also writes into docs/RESULTS.md between its markers",
             "- report/: one self-contained HTML page per result label (" + ", ".join(f"`{l}.html`" for l in labels) + ") with the "
             "tables, figures, claim checks, provenance and a link to each run's result.json, and `index.html`; open "
             "them from a checkout. `make report-check` opens each in headless Chromium (scripts/check-report)", ""]
    all_pending = list(pending["table"].values()) + list(pending["figure"].values()) + list(pending["claim"].values())
    if all_pending:
        index += ["## Pending (no committed results yet)", ""] + [f"- {p}" for p in all_pending] + [""]
    write_text(os.path.join(arguments.out, "README.md"), "\n".join(index))
    if os.path.realpath(arguments.out) == os.path.realpath(os.path.join(ROOT, "analysis")):
        splice_summary(arguments.out)
    print(f"analysis: {len(spec['tables'])} tables, {len(spec['figures'])} figures, {len(spec['claims'])} claims, "
          f"{len(labels)} report pages; {len(all_pending)} pending")


if __name__ == "__main__":
    sys.exit(main())
