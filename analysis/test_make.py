#!/usr/bin/python3
"""Tests of analysis/make.py's claim verdicts: which cells a claim has, and when a verdict waits.

Run with `/usr/bin/python3 -B -m unittest analysis/test_make.py` (make analysis-check runs it).
The plan of each fake sweep is put into make.PLANS directly, so no userdp build is needed.
"""
import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make  # noqa: E402

LABEL = "L"
SWEEP = "sweeps/fake.json"
MECHANISMS = {"better": {"mechanism": "user"}, "worse": {"mechanism": "group"}}


def mechanisms_plan():
    """User-wise and Group Privacy at ε 1 and 2, two learning rates, three seeds, and a
    non-private reference at ε n/a: what sweeps/paper/mechanisms.json plans, in small."""
    runs = [{"epsilon": e, "learning_rate": lr, "mechanism": m, "seed": s}
            for m, e, lr, s in itertools.product(("user", "group"), ("1", "2"), ("0.001", "0.003"), ("0", "1", "2"))]
    runs += [{"epsilon": "n/a", "learning_rate": lr, "mechanism": "nonprivate", "seed": s}
             for lr, s in itertools.product(("0.001", "0.003"), ("0", "1", "2"))]
    return runs


def rows_for(plan, gap):
    """One result row per planned run; group is worse than user by gap[seed] in test perplexity."""
    rows = []
    for run in plan:
        seed = int(run["seed"])
        test = 100.0 + (gap[seed] if run["mechanism"] == "group" else 0.0) + (0.5 if run["learning_rate"] == "0.001" else 0.0)
        rows.append(dict(run, test_perplexity=str(test), validation_perplexity=str(test + 1.0)))
    return rows


class ClaimTests(unittest.TestCase):
    def setUp(self):
        self.saved = dict(make.PLANS)

    def tearDown(self):
        make.PLANS.clear()
        make.PLANS.update(self.saved)

    def comparison(self, plan, rows):
        make.PLANS[(SWEEP, LABEL)] = plan
        spec = dict(MECHANISMS, name="c", sweep=SWEEP, cells="epsilon", tune="learning_rate")
        return make.claim_comparison(spec, rows, LABEL)

    def test_a_cell_neither_side_plans_is_not_a_cell(self):
        plan = mechanisms_plan()
        result, lines, _ = self.comparison(plan, rows_for(plan, [1.0, 1.1, 0.9]))
        self.assertEqual(result, "reproduced")
        self.assertEqual([line.split(" | ")[0] for line in lines], ["| epsilon = 1", "| epsilon = 2"])

    def test_a_missing_planned_run_keeps_the_claim_pending(self):
        plan = mechanisms_plan()
        rows = [r for r in rows_for(plan, [1.0, 1.1, 0.9])
                if not (r["mechanism"] == "group" and r["epsilon"] == "2" and r["learning_rate"] == "0.001" and r["seed"] == "2")]
        result, lines, _ = self.comparison(plan, rows)
        self.assertTrue(result.startswith("pending (incomplete cells"), result)
        self.assertIn("epsilon = 2 †", lines[1])
        self.assertNotIn("†", lines[0])

    def test_a_planned_cell_without_runs_on_one_side_is_listed_and_pending(self):
        plan = mechanisms_plan()
        rows = [r for r in rows_for(plan, [1.0, 1.1, 0.9]) if not (r["mechanism"] == "group" and r["epsilon"] == "2")]
        result, lines, _ = self.comparison(plan, rows)
        self.assertTrue(result.startswith("pending"), result)
        self.assertEqual(len(lines), 2)
        self.assertIn("| epsilon = 2 † | 0.003 / — |", lines[1])

    def test_halting_waits_for_every_planned_run(self):
        plan = [{"mechanism": m, "seed": s} for m, s in itertools.product(("asi-liu", "user"), ("0", "1", "2", "3"))]
        make.PLANS[(SWEEP, LABEL)] = plan
        spec = {"name": "h", "sweep": SWEEP, "where": {"mechanism": "asi-liu"}, "often": 0.5}
        rows = [dict(run, **{"extra.asi_liu_halted": "true"}) for run in plan if run["mechanism"] == "asi-liu"]
        partial, _, note = make.claim_halts(spec, rows[:3], LABEL)
        self.assertEqual(partial, "pending (3 of 4 planned runs; so far it reads: reproduced)")
        self.assertEqual(note, " 3 of 3 runs halted.")
        complete, _, _ = make.claim_halts(spec, rows, LABEL)
        self.assertEqual(complete, "reproduced")
        rows[0]["extra.asi_liu_halted"] = rows[1]["extra.asi_liu_halted"] = rows[2]["extra.asi_liu_halted"] = "false"
        self.assertEqual(make.claim_halts(spec, rows, LABEL)[0], "not reproduced")

    def test_a_run_that_never_halted_is_drawn_at_its_last_step(self):
        rows = [{"mechanism_options.asi_liu.tau": "1", "epsilon": "8", "extra.asi_liu_halted_at_step": "null",
                 "extra.asi_liu_steps_run": "20", "extra.asi_liu_pass_rate": "1"},
                {"mechanism_options.asi_liu.tau": "1", "epsilon": "8", "extra.asi_liu_halted_at_step": "4",
                 "extra.asi_liu_steps_run": "4", "extra.asi_liu_pass_rate": "0.75"}]
        spec = {"x": "mechanism_options.asi_liu.tau", "series": ["epsilon"], "title": "t"}
        figure = make.figure_halting(spec, rows, LABEL)
        left = figure.axes[0].lines[0]
        self.assertEqual(list(left.get_ydata()), [12.0])
        make.plt.close(figure)

    def test_a_key_the_plan_does_not_list_is_held_constant(self):
        self.assertTrue(make.plan_matches({"epsilon": "1"}, {"epsilon": 1, "mechanism": "group"}))
        self.assertFalse(make.plan_matches({"epsilon": "1", "mechanism": "user"}, {"mechanism": "group"}))


if __name__ == "__main__":
    unittest.main()
