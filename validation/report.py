"""Render every table and cited figure of README.md and validation/README.md from
validation/results/*.json, each between <!-- NAME:start --> and <!-- NAME:end -->.

    python validation/report.py              rewrite the blocks in place
    python validation/report.py --check      exit 1 and name each block that differs
    python validation/report.py --root DIR   the READMEs of a copy of the repository at DIR
    python validation/report.py --plots      also redraw results/*.png from the JSON (no runs)

Each figure is rounded once, here, from the JSON, and each verdict word follows the claim rules
(common.ratio_verdict, difference_verdict, speed_verdict, target_verdict; stated in
validation/README.md). A JSON whose run record names no clean commit is listed as a warning,
not a --check failure: only a rerun from a clean commit fixes it.
"""
import argparse
import importlib.util
import os
import re
import sys
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (RESULTS, difference_verdict, load, perplexities,  # noqa: E402
                    ratio_verdict, unclean)
from report_speed import (ab_runs, bench_verdicts, interval, large_vocab, pct,  # noqa: E402
                          speed_prose, subnormals)
from stats import seed_ratio_interval  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKETS = [">1K", "100–1K", "10–100", "<10"]   # the LM's frequency buckets, rarest last


def script(name, cache={}):
    """validation/<name>.py, loaded by path: `import bench` could find another module (the
    tests' bench package) first."""
    if name not in cache:
        spec = importlib.util.spec_from_file_location(
            f"validation_{name}", os.path.join(os.path.dirname(RESULTS), f"{name}.py"))
        cache[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cache[name])
    return cache[name]


def ratio_claim(values, spec=".3f"):
    """"r [low, high], verdict" for per-seed Hebbian/baseline ratios (geometric mean, t)."""
    r, low, high = seed_ratio_interval(values)
    return f"{r:{spec}} {interval(low, high, spec)}, {ratio_verdict(low, high)}"


def claim_rules():
    """validation/README.md: the rules every verdict follows, and the files awaiting a rerun."""
    dirty = "; ".join(f"`{name}` ({commit})" for name, commit in unclean().items())
    return (
        "**How claims are worded.** Every verdict in both READMEs is put into words by "
        "`validation/report.py` from a 95 % interval, with margins fixed in advance: a "
        "perplexity ratio (Hebbian / baseline, lower is better) is *better* when its interval "
        "lies below 1, *worse* when it lies above 1, and *not worse* only when its upper bound is "
        f"at most {1 + common.RATIO_MARGIN:g} (a margin of {pct(common.RATIO_MARGIN, '.0f')}); an "
        "accuracy difference (Hebbian − baseline) is *ahead* above 0, *behind* below 0, and "
        "*not worse* only when its lower bound is at least "
        f"−{common.DIFFERENCE_MARGIN:g}; a speed "
        "ratio (hebbref / torch) is *faster* or *slower* only when its interval excludes 1 (and, "
        "for an A/B time ratio, when the medians moved the same way); a "
        "target is *met* only when the interval clears it and *missed* when the interval lies "
        "wholly short of it. Anything else is *inconclusive*, printed with its interval. The "
        "LM's ratios use the Student's t interval over seeds (training noise); the curriculum's "
        "differences the paired bootstrap over (seed, test image), with the seed-level t "
        "interval named beside it where the two disagree. Results are regenerated from a clean "
        "commit; these files were not, and await a rerun: " + (dirty or "none") + ".")


# ------------------------------------------------------------------------------------------------
# Reproduction 1: the curriculum


def curriculum_table():
    """README.md: pooled accuracies and their difference (the same estimator, so they add up)."""
    curriculum = script("curriculum")
    c = load("curriculum.json")
    names = {"kanji": "KanjiVG", "digits": "digits"}
    lines = ["| exposures | " + " | ".join(curriculum.BUCKETS) + " |",
             "|---|" + "---|" * len(curriculum.BUCKETS)]
    for name, label in names.items():
        seeds, diff = c["final_runs"][name]["chosen"], c["summary"][name]["chosen"]["difference"]
        for model, model_label in (("baseline", "baseline"), ("hebbian", "Hebbian")):
            lines.append(f"| {label} {model_label} (pooled) | " + " | ".join(
                f"{curriculum.pooled_accuracy(seeds, model, b):.3f}"
                for b in curriculum.BUCKETS) + " |")
        lines.append(f"| {label} Hebbian − baseline [95 % bootstrap] | " + " | ".join(
            f"{diff[b]['difference']:+.3f} {interval(diff[b]['low'], diff[b]['high'], '+.3f')}"
            for b in curriculum.BUCKETS) + " |")
    return "\n".join(lines)


def curriculum_verdict(name, rule="chosen"):
    """The >50 bucket in the claim rules' words, by each interval: bootstrap and seed t."""
    s = load("curriculum.json")["summary"][name][rule]
    d, t = s["difference"][">50"], s["seed_t"][">50"]
    return (f"{d['difference']:+.4f}, bootstrap {interval(d['low'], d['high'], '+.4f')} "
            f"({difference_verdict(d['low'], d['high'])}), seed t {interval(t[1], t[2], '+.4f')} "
            f"({difference_verdict(t[1], t[2])})")


def curriculum_claims():
    """README.md: the verdicts, the lever screen's choice and the fresh-class wins."""
    curriculum = script("curriculum")
    c = load("curriculum.json")
    table = curriculum.lever_table(c["screen"])
    passing = [s for s in table if curriculum.meets_criterion(table[s])]
    chosen = tuple(c["chosen"]["model"][k] for k in ("optimizer", "activation")) + tuple(
        c["chosen"]["rule"][k] for k in ("gamma", "T", "write_scale"))
    late = min(curriculum._mean([s["diff"][b] for s in seeds]) for seeds in
               table[chosen].values() for b in ("21-50", ">50"))
    row_norm = (*chosen[:4], "row_norm")
    row_norm_wins = [curriculum._mean([s["why"]["fresh_wins"] for s in table[row_norm][n]])
                     for n in ("kanji", "digits")]
    wins = {n: [c["summary"][n]["chosen"]["why"][m]["fresh_wins"] for m in ("baseline", "hebbian")]
            for n in ("kanji", "digits")}
    paper = c["summary"]["kanji"]["paper rule"]["difference"][">50"]
    early = {difference_verdict(d["low"], d["high"]) for n in ("kanji", "digits")
             for b, d in c["summary"][n]["chosen"]["difference"].items() if b not in ("0", ">50")}
    only = "the only one" if passing == [chosen] else f"one of the {len(passing)}"
    return (
        f"From 1 to 50 exposures the Hebbian softmax is {' or '.join(sorted(early))} in every "
        f"bucket of both datasets (bootstrap intervals). On classes seen more than 50 times, "
        "Hebbian − baseline with both 95 % intervals: KanjiVG "
        f"{curriculum_verdict('kanji')}; digits "
        f"{curriculum_verdict('digits')}. The paper's rule (γ = 0.1, T = 100, no centring) with "
        f"the same optimiser is at {paper['difference']:+.3f} there on KanjiVG "
        f"({difference_verdict(paper['low'], paper['high'])}, bootstrap); the default is "
        f"{only} of {len(table)} settings (write_scale × optimiser × (γ, T) × ReLU/tanh) "
        f"whose mean over the two screen seeds met the criterion on the validation drawers "
        f"(its worst late bucket there {late:+.3f}, a screen without an interval). The measured "
        "reason for the cost: after a class is introduced, images of "
        f"well-seen classes are classified as that fresh class ({pct(wins['kanji'][1])} of "
        f"them on KanjiVG, {pct(wins['digits'][1])} on the digits; baseline "
        f"{pct(wins['kanji'][0])} and {pct(wins['digits'][0])}), in spikes that decay as gradient "
        f"descent corrects the written row; rescaling rows to the trained norm (`row_norm`) does "
        f"not stop it ({pct(row_norm_wins[0])} and {pct(row_norm_wins[1])} on the "
        f"validation drawers).")


# ------------------------------------------------------------------------------------------------
# Reproduction 2: the language model


def lm_runs(cache=False):
    lm = load("lm.json")
    return {**lm["runs"], **(lm["cache_runs"] if cache else {})}


def ppl(value):
    return f"{value:,.1f}" if value < 500 else f"{value:,.0f}"


def column(name):
    """common.perplexities' row index of a bucket name or "overall"."""
    names = [b["name"] for b in load("lm.json")["runs"]["baseline"][0]["test"]["buckets"]]
    return len(names) if name == "overall" else names.index(name)


def seed_ratios(runs, a, b, name, split="test"):
    i = column(name)
    return perplexities(runs[a], split, i) / perplexities(runs[b], split, i)


def lm_table():
    """README.md: mean test perplexity over seeds; the ratio row its own estimator."""
    runs = lm_runs(cache=True)
    columns = [column(name) for name in BUCKETS + ["overall"]]
    lines = ["| test perplexity | " + " | ".join(BUCKETS) + " | overall |",
             "|---|" + "---|" * (len(BUCKETS) + 1)]
    rows = [("baseline", "baseline"), ("Hebbian", "hebbian")]
    for label, model in rows:
        lines.append(f"| {label} (mean over seeds) | " + " | ".join(
            ppl(np.mean(perplexities(runs[model], "test", i))) for i in columns) + " |")
    lines.append("| Hebbian / baseline (geometric mean of the seeds' ratios [95 % t]) | "
                 + " | ".join("{:.3f} [{:.3f}, {:.3f}]".format(*seed_ratio_interval(
                     seed_ratios(runs, "hebbian", "baseline", name)))
                     for name in BUCKETS + ["overall"]) + " |")
    for label, model in rows:
        lines.append(f"| {label} + neural cache (mean over seeds) | " + " | ".join(
            ppl(np.mean(perplexities(runs[model.lower() + " + cache"], "test", i)))
            for i in columns) + " |")
    return "\n".join(lines)


def seed_count(ratios, seeds):
    """"lower on k of n seeds", naming the seeds where the ratio is not below 1."""
    worse = [f"seed {s}: {r:.4f}" for s, r in zip(seeds, ratios) if r >= 1]
    return f"lower on {len(ratios) - len(worse)} of {len(ratios)} seeds" + (
        f"; {', '.join(worse)}" if worse else "")


def lm_books_claims():
    """README.md: the news-and-books study at `hebbref lm`'s size (model row per bucket, every
    row overall), in the claim rules' words, then the reduced-size table's model row."""
    cell = script("lm_table").claim

    def cells(rows, unk=False):
        return ", ".join(f"{b} {cell(c)}" for b, c in rows.items()
                         if b != "<unk>" and "ratio" in c) + (
            f", <unk> targets (not in the goal) {cell(rows['<unk>'])}"
            if unk and "ratio" in rows.get("<unk>", {}) else "")

    def met(r):
        return ", ".join(f"{c} {'met' if m else 'not met'}" for c, m in r["done_criterion"].items())

    text = ""
    if os.path.exists(os.path.join(common.RESULTS, "lm_table_full.json")):
        full = load("lm_table_full.json")
        s = full["setting"]
        names = {"cache": "+ cache", "mbpa": "+ MbPA", "cache_mbpa": "+ both"}
        text = (f"At `hebbref lm`'s size (E = H = 128, one epoch, whole splits, seeds "
                f"{full['seeds']}), with the setting chosen on validation (lr "
                f"{full['schedule']}, write {script('lm_table').write_label(s)}, T = "
                f"{s['T']:g}): " + "; ".join(
                    f"{corpus}: {cells(rows['model'], unk=True)}" + "".join(
                        f"; {name} overall {cell(rows[row]['overall'])}"
                        for row, name in names.items() if rows.get(row))
                    for corpus, rows in full["table"].items())
                + f". Every bucket ≤ 1.00 and overall ≤ 0.97 (model row, point estimates): "
                  f"{met(full)}. ")
    r = load("lm_table.json")
    return text + ("The reduced study (E = H = 64, a third of an epoch, constant lr), model row: "
                   + "; ".join(f"{corpus} {cells(rows['model'])}"
                               for corpus, rows in r["table"].items())
                   + f"; every bucket ≤ 1.00 and overall ≤ 0.97: {met(r)}.")


def lm_claims():
    """Both READMEs: each bucket against the goal, by the t interval over seeds."""
    runs, seeds = lm_runs(cache=True), load("lm.json")["seeds"]
    parts = []
    for name in reversed(BUCKETS):
        ratios = seed_ratios(runs, "hebbian", "baseline", name)
        parts.append(f"{name} {ratio_claim(ratios)} ({seed_count(ratios, seeds)})")
    overall = seed_ratios(runs, "hebbian", "baseline", "overall")
    cached = seed_ratios(runs, "hebbian + cache", "baseline + cache", "overall")
    return ("Against the goal (rare words better, frequent ones not worse), each bucket's "
            "Hebbian/baseline test ratio, geometric mean over the seeds [95 % t interval over "
            "the seeds], in the claim rules' words: " + "; ".join(parts)
            + f"; overall {ratio_claim(overall)} ({seed_count(overall, seeds)}). With the neural "
            f"cache on both models, overall {ratio_claim(cached)}.")


def lm_tuning():
    """Both READMEs: what centring changed, from the tuning table (validation, seed 0)."""
    rows = {(t["T"], t["write_scale"]): t for t in load("lm.json")["tuning"]
            if t["seed"] == 0 and t["lam_rule"] == "paper"}
    paper, centred = rows[(100.0, "none")], rows[(100.0, "centred")]
    align = lambda t, b: t["mechanism"]["alignment"][b]
    return (f"With the paper's write (T = 100) the worst bucket's Hebbian/baseline validation "
            f"ratio on seed 0 was {paper['worst_ratio']:.3f}, with centred writes "
            f"{centred['worst_ratio']:.3f}: rows written from few activations share h's common "
            f"direction (alignment of the 10–100 rows {align(paper, '10–100'):.2f}, of the <10 "
            f"rows {align(paper, '<10'):.2f}), and centring removes it "
            f"({align(centred, '10–100'):.2f} and {align(centred, '<10'):.2f}).")


def mbpa_sentence():
    """README.md: the paper's best row at CPU size (seed 0, the BBC defaults' models)."""
    m = load("lm_mbpa.json")
    rows = m["by_init"]["BBC defaults"]
    overall = {model: {key: r[key]["test"]["overall"]["perplexity"]
                       for key in ("model", "mbpa", "cache", "cache_mbpa")}
               for model, r in rows.items()}
    ordered = all(o["model"] > o["mbpa"] > o["cache"] > o["cache_mbpa"] for o in overall.values())
    b, h = overall["baseline"], overall["hebbian"]
    return (f"The paper's best row, LSTM + Hebbian + cache + MbPA (29.2 on WikiText-103), here "
            f"on seed 0's first {m['tokens_by_init']['BBC defaults']:,} test tokens "
            f"(`validation/lm_mbpa.py`, one seed, no interval): plain model {b['model']:.1f} → "
            f"+ cache + MbPA {b['cache_mbpa']:.1f}, Hebbian {h['model']:.1f} → "
            f"{h['cache_mbpa']:.1f}; the rows {'keep' if ordered else 'do not keep'} the paper's "
            "order (model > + MbPA > + cache > + cache + MbPA) for both models.")


def _signed(cell):
    return f"{cell['difference']:+.3f} {interval(cell['low'], cell['high'], '+.3f')}"


def levers_results():
    levers = script("curriculum_levers")
    r = load("curriculum_levers.json")
    return levers, r, r["final"]


def levers_text():
    """validation/README.md: the lever study's choice, final table and screen."""
    levers, r, final = levers_results()
    return (f"Chosen on validation: **{r['chosen']}** {r['chosen_levers']}.\n\nFinal (test "
            f"drawers; kanji: fresh classes, seeds {r['fresh_seeds']}; digits: seeds "
            f"{r['digit_test_seeds']}; demo: `hebbref demo`'s configuration, seed 0):\n\n"
            + levers.final_markdown(final) + "\n\nLever screen (validation drawers, seeds "
            f"{r['screen_seeds']}; ✓ meets the criterion on validation means):\n\n"
            + levers.lever_markdown(r["screen"]))


def centring_claims():
    """README.md: the curriculum's default from the centring study, on its test drawers, in
    the claim rules' words, beside the previous default."""
    r = load("curriculum_centring.json")
    names = {"kanji": "fresh KanjiVG classes", "digits": "the digits",
             "demo": "`hebbref demo` (its seeds 0–2)", "rich": "the data-rich regime"}
    parts = []
    for name, per in r["final"].items():
        d = per["chosen"]["difference"]
        late = [f"{b} {_signed(d[b])} ({difference_verdict(d[b]['low'], d[b]['high'])})"
                for b in ("21-50", ">50")]
        parts.append(f"{names[name]}: {d['1']['difference']:+.3f} and "
                     f"{d['2']['difference']:+.3f} at 1 and 2 exposures, " + ", ".join(late))
    old = r["final"]["rich"]["current"]["difference"]["21-50"]
    return (f"The default ({', '.join(f'{k} = {v:g}' for k, v in r['chosen_levers'].items())}),"
            " Hebbian − baseline on test drawers, 95 % bootstrap intervals: " + "; ".join(parts)
            + f". The previous default (write_gain = 0.25, each batch's own mean) in the "
            f"data-rich regime at 21–50 exposures: {_signed(old)} "
            f"({difference_verdict(old['low'], old['high'])}).")


def levers_demo():
    """validation/README.md: the demo's regime on validation drawers."""
    rows = ["| setting | fresh-win share H / B | 1 | 2 | 21–50 [95 % CI] | >50 [95 % CI] |",
            "|---|---|---|---|---|---|"]
    for label, per in load("curriculum_levers.json")["demo_screen"].items():
        c = per["demo"]
        d, wins = c["difference"], c["fresh_wins"]
        rows.append(f"| {label} | {wins['hebbian'] or 0:.3f} / {wins['baseline'] or 0:.3f} | "
                    f"{d['1']['difference']:+.2f} | {d['2']['difference']:+.2f} | "
                    f"{_signed(d['21-50'])} | {_signed(d['>50'])} |")
    return "\n".join(rows)


def levers_claims():
    """README.md and validation/README.md: the late cost with the chosen write, in the claim
    rules' words."""
    _, r, final = levers_results()
    late = {name: final[name]["chosen"]["difference"][">50"] for name in final}
    full = {name: final[name]["default"]["difference"][">50"] for name in final}
    early = min(final[name]["chosen"]["difference"][b]["difference"]
                for name in ("kanji", "digits") for b in ("1", "2"))
    acc = final["kanji"]["chosen"]["accuracy"]
    demo = load("curriculum_levers.json")["demo_screen"][r["chosen"]]["demo"]["difference"][">50"]
    verdict = lambda c: difference_verdict(c["low"], c["high"])
    return (
        f"The chosen write ({', '.join(f'{k} = {v}' for k, v in r['chosen_levers'].items())}, "
        "the default of `hebbref curriculum` and `hebbref demo` until the centring study), "
        "reported once on KanjiVG classes "
        "no choice had seen and on the digits: at >50 exposures "
        f"{_signed(late['kanji'])} ({verdict(late['kanji'])}) on the fresh KanjiVG classes (the "
        f"full write: {_signed(full['kanji'])}) and {_signed(late['digits'])} "
        f"({verdict(late['digits'])}) on the digits (full write {_signed(full['digits'])}); the "
        f"lead at 1 and 2 exposures stays at least {early:+.2f}. Hebbian accuracy at >50 on the "
        f"fresh KanjiVG classes: {final['kanji']['default']['accuracy']['hebbian']['>50']:.3f} "
        f"with the full write, {acc['hebbian']['>50']:.3f} with the chosen one (baseline "
        f"{acc['baseline']['>50']:.3f}). `hebbref demo` itself (one seed, seed 0): "
        f"{_signed(late['demo'])} ({verdict(late['demo'])}; full write "
        f"{_signed(full['demo'])}), so a cost remains there; in the demo's regime on validation "
        f"drawers (seeds 10, 11) the chosen write gives {_signed(demo)} ({verdict(demo)}).")


# ------------------------------------------------------------------------------------------------
# The blocks, and writing or checking them


def scripts_blocks():
    """validation/README.md's sections that the validation scripts also write after a run."""
    bench, curriculum, lm_buckets, lm_cache, lm_mbpa, lm_torch = map(script, (
        "bench", "curriculum", "lm_buckets", "lm_cache", "lm_mbpa", "lm_torch"))
    from hebbref.data.text import load_corpus

    c, lm, torch_runs = load("curriculum.json"), load("lm.json"), load("lm_torch.json")
    protocol = torch_runs["protocol"]
    return {
        "curriculum": lambda: curriculum.report_text(c, curriculum.lever_table(c["screen"]),
                                                     c["chosen"], c["summary"]),
        "lm": lambda: lm_buckets.report(
            SimpleNamespace(**lm["config"]), SimpleNamespace(seeds=lm["seeds"]), lm["screen"],
            lm["tuning"], lm["chosen"], lm["runs"], lm["test_ratio_interval"]),
        "lm-cache": lambda: lm_cache.markdown(lm),
        "lm-torch": lambda: lm_torch.report(
            torch_runs, load_corpus("bbc", min_count=protocol["min_count"], seed=0),
            protocol["max_steps"], protocol["eval_tokens"]),
        "lm-mbpa": lambda: lm_mbpa.markdown(load("lm_mbpa.json")),
        "bench": lambda: bench.markdown(load("bench.json")),
        "lm-books": lambda: script("lm_table").render(load("lm_table.json")),
        "lm-books-full": lambda: script("lm_table").render_full(load("lm_table_full.json")),
        "lm-books-file": lambda: script("lm_books_file").render(load("lm_books_file.json")),
        "centring": lambda: script("curriculum_centring").markdown(
            load("curriculum_centring.json")),
    }


def blocks():
    """{(README path relative to the root, block name): function returning its text}."""
    readme, validation = "README.md", os.path.join("validation", "README.md")
    out = {(readme, "curriculum-table"): curriculum_table,
           (readme, "curriculum-claims"): curriculum_claims,
           (readme, "lm-table"): lm_table, (readme, "lm-claims"): lm_claims,
           (readme, "lm-tuning"): lm_tuning, (readme, "mbpa"): mbpa_sentence,
           (readme, "lm-books-claims"): lm_books_claims,
           (readme, "centring-claims"): centring_claims,
           (readme, "speed"): speed_prose,
           (validation, "claim-rules"): claim_rules, (validation, "lm-goal"): lm_claims,
           (validation, "lm-centring"): lm_tuning, (validation, "bench-verdicts"): bench_verdicts,
           (validation, "ab-runs"): ab_runs, (validation, "subnormals"): subnormals,
           (validation, "large-vocab"): large_vocab,
           (validation, "levers"): levers_text, (validation, "levers-demo"): levers_demo,
           (validation, "levers-claims"): levers_claims, (readme, "levers-claims"): levers_claims,
           (validation, "mbpa"): mbpa_sentence}
    out.update({(validation, name): f for name, f in scripts_blocks().items()})
    return out


def replace_block(text, name, body):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if any block differs from its rendering")
    parser.add_argument("--root", default=ROOT,
                        help="the repository whose README.md and validation/README.md to render")
    parser.add_argument("--plots", action="store_true",
                        help="also redraw the validation plots from results/*.json")
    args = parser.parse_args(argv)
    if args.plots:
        script("curriculum").plots(load("curriculum.json"))
        script("lm_buckets").plots(load("lm.json"))
        script("lm_cache").plots(load("lm.json"))
        script("lm_mbpa").plots(load("lm_mbpa.json"))
    texts, differ = {}, []
    for (path, name), render in blocks().items():
        full = os.path.join(args.root, path)
        if full not in texts:
            with open(full, encoding="utf-8") as f:
                texts[full] = f.read()
        try:
            new = replace_block(texts[full], name, render())
        except ValueError as error:
            differ.append(f"{path}: {error}")
            continue
        if new != texts[full]:
            differ.append(f"{path}: block {name} differs from its rendering")
        texts[full] = new
    for name, commit in unclean().items():
        print(f"warning: {name} has no clean-commit record ({commit}); rerun it from a clean "
              "commit", file=sys.stderr)
    if args.check:
        print("\n".join(differ) or "every block matches its rendering")
        return 1 if differ else 0
    for full, text in texts.items():
        common.atomic_write(full, lambda f, text=text: f.write(text.encode("utf-8")))
    print("rewritten from the JSON:\n" + "\n".join(differ) if differ else "nothing changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
