"""chart.png: left, the median throughput of every configuration (log scale, one colour per
row of the issue's table); right, each ratio to its reference with its target marked,
green when met, red when missed, grey where the issue sets no target."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"ceiling": "#555555", "bound": "#aaaaaa", "protected": "#1f77b4", "peers": "#9467bd", "refresh": "#ff7f0e",
           "sessions": "#8c564b", "login": "#2ca02c", "storm": "#d62728"}


def draw(rows: list[dict[str, object]], out: Path, extra: dict[str, object]) -> None:
    seen: set[object] = set()  # a configuration with two references is one bar here
    through = [r for r in rows if r["rps"] and not (r["key"] in seen or seen.add(r["key"]))]
    ratios = [r for r in rows if r["ratio"] is not None]
    height = max(len(through), len(ratios)) * 0.36 + 1.6
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, height), gridspec_kw={"width_ratios": [1, 1.1]})

    names = [str(r["label"]) for r in through]
    left.barh(names, [r["rps"] for r in through], color=[COLOURS.get(str(r["row"]), "#999") for r in through])
    for i, r in enumerate(through):
        left.text(r["rps"], i, f" {r['rps']:,.0f}", va="center", fontsize=8)
    left.set_xscale("log")
    if through:
        left.set_xlim(right=max(r["rps"] for r in through) * 3)
    left.invert_yaxis()
    left.set_xlabel("requests per second (median, log scale)")
    left.set_title("Throughput, one server core")
    left.tick_params(axis="y", labelsize=8)

    labels, values, colours = [], [], []
    for r in ratios:
        better = "higher" if r["metric"] == "rps" else "lower"
        labels.append(f"{r['label']}\n÷ {r['reference']} ({r['metric']}, {better} is better)")
        values.append(r["ratio"])
        colours.append({"met": "#2ca02c", "missed": "#d62728"}.get(str(r["verdict"]), "#999999"))
    right.barh(labels, values, color=colours)
    for i, r in enumerate(ratios):
        right.text(r["ratio"], i, f" {r['ratio']:.2f}×", va="center", fontsize=8)
        if r["target"] is not None:
            right.plot([r["target"]] * 2, [i - 0.4, i + 0.4], color="black", linewidth=2)
    right.set_xscale("log")
    if values:  # room for the value labels right of the longest bar
        right.set_xlim(min(min(values), 0.5) / 1.5, max(max(values), 2.5) * 2.5)
    right.axvline(1.0, color="#bbbbbb", linewidth=0.8)
    right.invert_yaxis()
    right.set_xlabel("ratio to the reference (median of per-rep ratios, log scale); black tick = target")
    right.set_title("Ratios within the run")
    right.tick_params(axis="y", labelsize=7)

    info = extra.get("run", {})
    if isinstance(info, dict) and info:
        fig.suptitle(f"authserver benchmark, {info.get('date')}, {info.get('mode')} mode, "
                     f"{info.get('nproc')} cores ({info.get('cpu')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
