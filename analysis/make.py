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
- An entry whose sweep has no committed results yet is listed as pending in
  analysis/README.md, never drawn from nothing.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
from collections import defaultdict

import matplotlib

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

# How the study writes the mechanisms (Chua et al. 2024).
MECHANISM_NAMES = {
    ("group", "lemma"): "Group Privacy",
    ("group", "mixture"): "Group Privacy (tight, ours)",
    ("group", ""): "Group Privacy",
    ("user", ""): "User-wise DP-SGD",
    ("nonprivate", ""): "non-private",
    ("asi-liu", ""): "Asi & Liu",
    ("record", ""): "record-level DP-SGD",
}


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


def number(text):
    return float(text) if text not in ("", "n/a", "none") else math.nan


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
    """A series' name as the study writes it (mechanism names), else its key=value pairs."""
    mechanism = values.get("mechanism", "")
    accounting = values.get("mechanism_options.group.accounting", "")
    name = MECHANISM_NAMES.get((mechanism, accounting if accounting != "n/a" else ""))
    if name and all(k in ("mechanism", "mechanism_options.group.accounting") for k in keys):
        return name
    return ", ".join(f"{k}={values.get(k, '')}" for k in keys if values.get(k, "") not in ("", "n/a"))


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
                     "--rows", spec["rows"], "--cols", spec["cols"], "--format", fmt,
                     "--output", os.path.join(out, "tables", f"{spec['name']}.{extension}")]
        if spec.get("select_best_by"):
            arguments += ["--select-best-by", spec["select_best_by"], "--over", spec["over"]]
        os.makedirs(os.path.join(out, "tables"), exist_ok=True)
        subprocess.run(arguments, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return None


def figure_metric_vs_axis(spec, rows):
    figure, axes = plt.subplots()
    keys = spec["series"]
    reference = [r for r in rows if matches(r, spec.get("reference"))]
    private = [r for r in rows if r not in reference]
    best = tuned(private, keys + [spec["x"]], spec.get("tune"))
    planned = planned_per_cell(spec["sweep"], spec.get("tune"))
    counts = defaultdict(int)
    for row in private:
        counts[tuple(row.get(k, "") for k in keys + [spec["x"]])] += 1
    by_series = defaultdict(list)
    for cell, (_, by_seed) in best.items():
        values = [number(r["test_perplexity"]) for r in by_seed.values()]
        m, s = mean_std(values)
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
            axes.axhline(m, color="gray", linestyle="--", label="non-private")
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.set_xlabel("ε (user level)" + ("; hollow: cell not finished yet" if incomplete else ""))
    axes.set_ylabel("test perplexity")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7)
    return figure


def figure_best_axis(spec, rows):
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


def figure_bars(spec, rows):
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


def figure_halting(spec, rows):
    rows = [r for r in rows if matches(r, spec.get("where"))]
    figure, (left, right) = plt.subplots(1, 2)
    steps = defaultdict(list)
    passes = defaultdict(list)
    for row in rows:
        series = tuple(row.get(k, "") for k in spec["series"])
        tau = number(row[spec["x"]])
        halted = row.get("extra.asi_liu_halted_at_step", "")
        steps[series].append((tau, number(halted) if halted not in ("", "none") else number(row.get("extra.asi_liu_steps_run", "nan"))))
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
    report = json.loads(result.stdout)
    with open(csv_path, newline="") as f:
        epsilons = sorted(float(r["epsilon"]) for r in csv.DictReader(f))
    finite = [e for e in epsilons if math.isfinite(e)]
    figure, axes = plt.subplots()
    n = len(epsilons)
    infinite = n - len(finite)
    axes.step(finite, [(i + 1) / n for i in range(len(finite))], where="post",
              label="record-level DP-SGD, per user" + (f" ({infinite} of {n}: no finite ε)" if infinite else ""))
    axes.axvline(report["user_wise_epsilon"], color="C1", linestyle="--", label="User-wise DP-SGD (every user)")
    axes.axvline(report["group_privacy_epsilon"], color="C2", linestyle=":", label=f"Group Privacy, k = {spec['group_size']} (every user)")
    axes.set_xscale("log")
    axes.set_xlabel("user-level ε at δ = %g" % spec["delta"])
    axes.set_ylabel("fraction of users")
    axes.set_title(spec["title"], fontsize=8)
    axes.legend(fontsize=7, loc="lower right")
    return figure


# MARK: - claims

def planned_per_cell(sweep_path, tune):
    """Runs a fully finished cell holds: the tuning axis's values in the sweep file times its
    seeds (the sweeps of spec.json give every cell the same tuning values)."""
    with open(os.path.join(ROOT, sweep_path)) as f:
        definition = json.load(f)
    grids = definition["grid"] if isinstance(definition["grid"], list) else [definition["grid"]]
    values = max((len(g.get(tune, [None])) for g in grids), default=1) if tune else 1
    seeds = len(definition.get("seeds", [])) or int(definition.get("replicates", 1))
    return values * seeds


def cell_size(rows, assignment, cell_key, value):
    return sum(1 for r in rows if r.get(cell_key) == value and all(r.get(k) == str(v) for k, v in assignment.items()))


def claim_cells(spec, rows):
    rows = [r for r in rows if matches(r, spec.get("where"))]
    keys = list(spec["better"].keys() | spec["worse"].keys())
    cell_key = spec["cells"]
    best = tuned(rows, sorted(keys) + [cell_key], spec.get("tune"))
    lines = []
    cells = sorted({cell[-1] for cell in best}, key=lambda v: (number(v), v))
    for value in cells:
        def side(assignment):
            for cell, (setting, by_seed) in best.items():
                probe = dict(zip(sorted(keys) + [cell_key], cell))
                if cell[-1] == value and all(probe.get(k) == str(v) for k, v in assignment.items()):
                    return setting, by_seed
            return None
        better, worse = side(spec["better"]), side(spec["worse"])
        if not better or not worse:
            continue
        seeds = sorted(set(better[1]) & set(worse[1]), key=int)
        differences = [number(worse[1][s]["test_perplexity"]) - number(better[1][s]["test_perplexity"]) for s in seeds]
        planned = planned_per_cell(spec["sweep"], spec.get("tune"))
        complete = all(cell_size(rows, side, cell_key, value) >= planned for side in (spec["better"], spec["worse"]))
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


def claim_comparison(spec, rows):
    cells = claim_cells(spec, rows)
    adjusted = holm([c[5] for c in cells])
    lines = [f"| {spec['cells']} = {c[0]}{'' if c[7] else ' †'} | {c[1]} / {c[2]} | {c[3]:+.3f} | {c[4]:.2f} | {c[5]:.3f} | {a:.3f} | {c[6]} |"
             for c, a in zip(cells, adjusted)]
    result = verdict(cells, adjusted)
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


def claim_best_axis_grows(spec, rows):
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
        return "reproduced", lines, ""
    if all(o < 0 for o in outcomes):
        return "reversed", lines, ""
    return "not reproduced", lines, ""


def claim_halts(spec, rows):
    rows = [r for r in rows if matches(r, spec.get("where"))]
    if not rows:
        return "pending", [], ""
    halted = [r for r in rows if r.get("extra.asi_liu_halted", "") in ("true", "1", "1.0")]
    share = len(halted) / len(rows)
    lines = [f"| all τ, ε, learning rates, seeds | | {share:.2f} halted | | | | {len(rows)} |"]
    return ("reproduced" if share >= spec["often"] else "not reproduced"), lines, f" {len(halted)} of {len(rows)} runs halted."


def make_claims(specs, label, out):
    text = ["# Claim checks", "",
            "Generated by analysis/make.py from results/ (label `%s`). Each comparison pairs seeds at each side's tuned learning "
            "rate (lowest mean validation perplexity); Δ = worse − better in test perplexity (positive: the claim's direction); "
            "two-sided paired t-test over seeds, Holm-adjusted across the claim's cells. Verdict: reproduced when every cell "
            "points the claim's way and at least one is significant at 0.05 after Holm; reversed when every cell points the "
            "other way with one significant; not reproduced otherwise. With 3 seeds a cell needs |t| > 4.30 to be significant. A cell marked † does not yet hold every planned learning rate and seed; a claim with such a cell is pending." % label, ""]
    pending = []
    for spec in specs:
        rows = load_rows(spec["sweep"], label)
        if rows is None:
            pending.append(f"claim `{spec['name']}`: no results for {spec['sweep']} under label {label} yet")
            continue
        kind = spec.get("kind", "comparison")
        if kind == "best-axis-grows":
            result, lines, note = claim_best_axis_grows(spec, rows)
        elif kind == "halts":
            result, lines, note = claim_halts(spec, rows)
        else:
            result, lines, note = claim_comparison(spec, rows)
        owner = "the study's finding" if spec.get("study") else "our own finding, not in the study"
        text += [f"## {spec['name']} ({owner})", "", f"**Verdict: {result}.**{note}", "",
                 "| cell | tuned lr (better / worse) | Δ mean | t | p | p (Holm) | seeds |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        text += lines + [""]
    write_text(os.path.join(out, "claims.md"), "\n".join(text))
    return pending


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--userdp", default=os.path.join(ROOT, ".build/release/userdp"))
    parser.add_argument("--out", default=os.path.join(ROOT, "analysis"))
    arguments = parser.parse_args()
    with open(os.path.join(ROOT, "analysis/spec.json")) as f:
        spec = json.load(f)
    label = spec["label"]
    pending = []
    for table in spec["tables"]:
        missing = make_table(table, label, arguments.userdp, arguments.out)
        if missing:
            pending.append(missing)
    drawers = {"metric-vs-axis": figure_metric_vs_axis, "best-axis": figure_best_axis, "bars": figure_bars, "halting": figure_halting}
    for figure_spec in spec["figures"]:
        kind = figure_spec["kind"]
        if kind == "per-user":
            save_figure(figure_per_user(figure_spec, arguments.userdp, arguments.out), arguments.out, figure_spec["name"])
            continue
        rows = load_rows(figure_spec["sweep"], label)
        if rows is None:
            pending.append(f"figure `{figure_spec['name']}`: no results for {figure_spec['sweep']} under label {label} yet")
            continue
        if kind == "curves":
            figure = figure_curves(figure_spec, rows, results_folder(figure_spec["sweep"], label))
        else:
            figure = drawers[kind](figure_spec, rows)
        save_figure(figure, arguments.out, figure_spec["name"])
    pending += make_claims(spec["claims"], label, arguments.out)
    index = ["# analysis/", "", "Generated by `make analysis` (analysis/make.py) from results/ with the declarations in "
             "analysis/spec.json. Do not edit the outputs by hand: CI regenerates them and fails when they differ.", "",
             "- tables/: Markdown, CSV and LaTeX of each table", "- figures/: SVG (papers) and PNG (docs) of each figure",
             "- claims.md: the study's findings checked against the results", ""]
    if pending:
        index += ["## Pending (no committed results yet)", ""] + [f"- {p}" for p in pending] + [""]
    write_text(os.path.join(arguments.out, "README.md"), "\n".join(index))
    print(f"analysis: {len(spec['tables'])} tables, {len(spec['figures'])} figures, {len(spec['claims'])} claims; {len(pending)} pending")


if __name__ == "__main__":
    sys.exit(main())
