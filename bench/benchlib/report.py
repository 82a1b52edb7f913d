"""results.md from a run's raw records: medians per configuration, and each configuration's
ratio to its reference computed per rep (both measured in the same interleaved pass) and
then the median of those ratios, with their spread.

    python -m benchlib.report RAW_DIR RESULTS_DIR   (re-renders without re-running)
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from benchlib.environment import describe

METRIC = {"rps": "rps", "p50": "p50_ms", "p99": "p99_ms"}


def load(raw: Path) -> tuple[dict[str, object], dict[str, dict[int, dict[str, float]]], dict[str, object]]:
    meta = json.loads((raw / "meta.json").read_text())
    runs: dict[str, dict[int, dict[str, float]]] = defaultdict(dict)
    path = raw / "runs.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        r = json.loads(line)
        runs[r["key"]][r["rep"]] = r
    extra_path = raw / "extra.json"
    extra = json.loads(extra_path.read_text()) if extra_path.exists() else {}
    return meta, runs, extra


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rows(meta: dict[str, object], runs: dict[str, dict[int, dict[str, float]]]) -> list[dict[str, object]]:
    """One dict per table line: medians, ratio (median of per-rep ratios), verdict."""
    out = []
    for spec in meta["specs"]:  # type: ignore[union-attr]
        reps = runs.get(spec["key"], {})
        line = dict(spec)
        for field in ("rps", "p50_ms", "p99_ms", "cpu_us", "db_cpu_us", "db_connects_per_1k"):
            line[field] = median([r.get(field) for r in reps.values()])
        n_req = sum(r["requests"] for r in reps.values())
        line["error_pct"] = sum(r["errors"] for r in reps.values()) / n_req * 100 if n_req else None
        line["reps"] = len(reps)
        ref = runs.get(spec["reference"] or "", {})
        field = METRIC[spec["metric"]]
        ratios = [reps[k][field] / ref[k][field] for k in reps if k in ref and ref[k][field]]
        line["ratio"] = median(ratios)
        line["spread"] = (min(ratios), max(ratios)) if ratios else None
        target, ratio = spec["target"], line["ratio"]
        if target is None or ratio is None:
            line["verdict"] = ""
        elif spec["metric"] == "rps":
            line["verdict"] = "met" if ratio >= target else "missed"
        else:
            line["verdict"] = "met" if ratio <= target else "missed"
        out.append(line)
    return out


def _f(value: object, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _db(r: dict[str, object]) -> str:
    if r["db_cpu_us"] is None:
        return ""
    conns = r.get("db_connects_per_1k")
    return _f(r["db_cpu_us"]) + (f" ({conns:.0f})" if conns is not None else "")


def render(meta: dict[str, object], runs: dict[str, dict[int, dict[str, float]]], extra: dict[str, object]) -> str:
    lines = ["# Benchmark results", "", describe(extra.get("run", {})), "",
             "| row | configuration | req/s | p50 ms | p99 ms | server CPU µs/req | DB CPU µs/req (new conns/1k req) | "
             "reference | ratio (min–max over reps) | target | |",
             "|---|---|---:|---:|---:|---:|---:|---|---|---|---|"]
    for r in rows(meta, runs):
        ratio = ""
        if r["ratio"] is not None:
            lo, hi = r["spread"]
            ratio = f"**{r['ratio']:.2f}×** {r['metric']} ({lo:.2f}–{hi:.2f})"
        sign = ">=" if r["metric"] == "rps" else "<="
        target = f"{sign} {r['target']}×" if r["target"] is not None else ""
        label = r["label"] + (f" ⚠ {r['error_pct']:.1f}% errors" if r["error_pct"] and r["error_pct"] > 1 else "")
        lines.append(f"| {r['row']} | {label} | {_f(r['rps'])} | {_f(r['p50_ms'], 1)} | {_f(r['p99_ms'], 1)} | "
                     f"{_f(r['cpu_us'])} | {_db(r)} | "
                     f"{r['reference'] or '—'} | {ratio} | {target} | {r['verdict']} |")
    lines += ["", "Ratios: `rps` rows compare throughput (higher is better); `p50`/`p99` rows compare "
              "latency (lower is better). Each ratio pairs runs of the same rep, then takes the median.",
              "Server CPU counts every process of the server (uvicorn workers included); DB CPU counts "
              "the PostgreSQL backends serving that database (PostgreSQL is not pinned).", ""]
    rss = extra.get("rss")
    if isinstance(rss, dict):
        verdict = "met" if abs(rss["growth_pct"]) <= 10 and rss["last_requests"] >= rss["target_requests"] else (
            "missed" if abs(rss["growth_pct"]) > 10 else "incomplete")
        lines += ["## No growth (RSS of one worker, /protected)", "",
                  f"{rss['first_mb']:.1f} MB after {rss['first_requests']:,} requests, "
                  f"{rss['last_mb']:.1f} MB after {rss['last_requests']:,}: **{rss['growth_pct']:+.1f} %** "
                  f"(target within ±10 %: {verdict}).", ""]
    notes = meta.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write(raw: Path, results: Path) -> Path:
    meta, runs, extra = load(raw)
    out = results / "results.md"
    out.write_text(render(meta, runs, extra))
    from benchlib import chart  # matplotlib is slow to import: only when drawing
    chart.draw(rows(meta, runs), results / "chart.png", extra)
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), Path(sys.argv[2])))
