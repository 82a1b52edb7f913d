"""The report of a run, from its raw records: each row's ratio to its reference, computed
per rep (both measured in the same interleaved pass), then the median of those ratios with
their spread; below it, every configuration's medians. A run of several builds (ab.py)
gets one column per build.

    python -m benchlib.report RAW_DIR   (re-renders RAW_DIR/results.md without re-running)
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchlib.environment import describe

FIELD = {"rps": "rps", "p50": "p50_ms", "p99": "p99_ms"}
Runs = dict[str, dict[int, dict[str, Any]]]
Spec = dict[str, Any]  # a RowSpec, as meta.json keeps it


def load(raw: Path) -> tuple[dict[str, Any], Runs, dict[str, Any]]:
    meta = json.loads((raw / "meta.json").read_text())
    runs: Runs = defaultdict(dict)
    path = raw / "runs.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        r = json.loads(line)
        runs[r["key"]][r["rep"]] = r
    extra_path = raw / "extra.json"
    extra = json.loads(extra_path.read_text()) if extra_path.exists() else {}
    return meta, runs, extra


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def paired(runs: Runs, key: str, ref: str, field: str) -> list[float]:
    """key ÷ ref, rep by rep, over the reps where both were measured."""
    mine, theirs = runs.get(key, {}), runs.get(ref, {})
    return [mine[r][field] / theirs[r][field] for r in mine if r in theirs and theirs[r][field]]


def better(ratio: float, target: float, metric: str) -> bool:
    return ratio >= target if metric == "rps" else ratio <= target


def ratio_text(ratios: list[float]) -> str:
    if not ratios:
        return "–"
    return f"**{statistics.median(ratios):.2f}×** ({min(ratios):.2f}–{max(ratios):.2f})"


def verdict(ratios: list[float], spec: Spec) -> str:
    if not ratios or spec["target"] is None:
        return ""
    return "met" if better(statistics.median(ratios), spec["target"], spec["metric"]) else "missed"


def value_text(runs: Runs, key: str, metric: str) -> str:
    value = median([r[FIELD[metric]] for r in runs.get(key, {}).values()])
    if value is None:
        return "–"
    return f"{value:,.0f} req/s" if metric == "rps" else f"{value:,.1f} ms {metric}"


def target_text(spec: Spec) -> str:
    return f"{'≥' if spec['metric'] == 'rps' else '≤'} {spec['target']}×" if spec["target"] is not None else ""


def rss_verdict(r: dict[str, Any]) -> str:
    if r["growth_pct"] > 10:
        return "missed"
    return "met" if r["last_requests"] >= r["target_requests"] else "incomplete"


def rss_text(r: dict[str, Any]) -> str:
    return (f"**{r['growth_pct']:+.1f} %** ({r['first_mb']:.1f} → {r['last_mb']:.1f} MB, "
            f"{r['first_requests']:,} → {r['last_requests']:,} requests)")


def render_single(specs: list[Spec], labels: dict[str, str], runs: Runs,
                  extra: dict[str, Any]) -> list[str]:
    lines = ["| row | measured | reference | ratio (min–max over reps) | target | |",
             "|---|---|---|---|---|---|"]
    for s in specs:
        ratios = paired(runs, s["key"], s["reference"], FIELD[s["metric"]])
        lines.append(f"| {s['row']} | {s['label']}: {value_text(runs, s['key'], s['metric'])} | "
                     f"{labels[s['reference']]}: {value_text(runs, s['reference'], s['metric'])} | "
                     f"{ratio_text(ratios)} | {target_text(s)} | {verdict(ratios, s)} |")
    for r in (extra.get("rss") or {}).values():
        lines.append(f"| rss | RSS of one worker over {r['target_requests']:,} GET /protected | "
                     f"its own RSS after the warm-up requests | {rss_text(r)} | ≤ +10 % | {rss_verdict(r)} |")
    return lines


def render_ab(specs: list[Spec], labels: dict[str, str], runs: Runs,
              extra: dict[str, Any], builds: list[str]) -> list[str]:
    lines = ["| row | reference | " + " | ".join(f"{b} ÷ reference" for b in builds)
             + f" | {builds[-1]} ÷ {builds[0]} | target |",
             "|---|---|" + "---|" * len(builds) + "---|---|"]
    by_row: dict[str, dict[str, Spec]] = defaultdict(dict)
    for s in specs:
        by_row[str(s["row"])][str(s["subject"])] = s
    for row, per in by_row.items():
        cells, first = [], next(iter(per.values()))
        for b in builds:
            if b not in per:
                cells.append("–")
                continue
            ratios = paired(runs, per[b]["key"], per[b]["reference"], FIELD[per[b]["metric"]])
            cells.append(f"{ratio_text(ratios)} {verdict(ratios, per[b])}".strip())
        if builds[0] in per and builds[-1] in per:
            ab = paired(runs, per[builds[-1]]["key"], per[builds[0]]["key"], FIELD[first["metric"]])
        else:
            ab = []
        ref = labels.get(str(first["reference"]), str(first["reference"]))
        lines.append(f"| {row}: {first['label']} | {ref} | " + " | ".join(cells)
                     + f" | {ratio_text(ab)} {first['metric']} | {target_text(first)} |")
    rss = extra.get("rss") or {}
    if rss:
        cells = [f"{rss_text(rss[b])} {rss_verdict(rss[b])}" if b in rss else "–" for b in builds]
        lines.append("| rss: RSS growth of one worker, GET /protected | its own RSS after the warm-up requests | "
                     + " | ".join(cells) + " | | ≤ +10 % |")
    return lines


def configurations(specs: list[Spec], runs: Runs) -> list[str]:
    lines = ["| configuration | req/s | p50 ms | p99 ms | server CPU µs/req | DB CPU µs/req | errors | reps |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    seen: set[str] = set()
    for s in specs:
        key = str(s["key"])
        if key in seen:
            continue
        seen.add(key)
        reps = runs.get(key, {}).values()
        cells = []
        for field, digits in (("rps", 0), ("p50_ms", 1), ("p99_ms", 1), ("cpu_us", 0), ("db_cpu_us", 0)):
            value = median([r.get(field) for r in reps])
            cells.append("" if value is None else f"{value:,.{digits}f}")
        requests = sum(r["requests"] for r in reps)
        errors = f"{sum(r['errors'] for r in reps) / requests * 100:.1f} %" if requests else ""
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {errors} | {len(reps)} |")
    return lines


def render(meta: dict[str, Any], runs: Runs, extra: dict[str, Any]) -> str:
    specs: list[Spec] = meta["specs"]
    labels = {str(s["key"]): str(s["label"]) for s in specs if s["reference"] is None}
    measured = [s for s in specs if s["reference"] is not None]
    builds = list(dict.fromkeys(str(s["subject"]) for s in measured if s["subject"]))
    builds = builds or list(dict.fromkeys(extra.get("rss") or {}))  # an rss-only run
    if builds and builds != [""]:
        table = render_ab(measured, labels, runs, extra, builds)
    else:
        table = render_single(measured, labels, runs, extra)
    lines = ["# Benchmark results", "", describe(extra.get("run", {})), "", *table, "",
             "Each ratio is the median over reps of (row ÷ its reference measured in the same rep), with "
             "the lowest and highest rep; req/s and ms are medians over reps. Compare ratios, not req/s.",
             "", "## Every configuration", "", *configurations(specs, runs), ""]
    notes = meta.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write(raw: Path) -> Path:
    out = raw / "results.md"
    out.write_text(render(*load(raw)))
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
