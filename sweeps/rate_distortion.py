"""Rate-distortion analysis of a sweep over the VAE's beta or fixed logSNR (`analysis = "rate_distortion"`).

Every finished trial is one operating point of the latent layer, read from its held-out ELBO split (Cola's
`negative_elbo_terms`, nats per token): rate R = KL(q || N(0, I)) (`elbo_rate`), distortion D = the decoder's
CE at a posterior sample (`elbo_rec`, with `recon_acc` beside it), the learned prior's correction to the rate
(`elbo_prior`, negative when the DiT places the latents better than N(0, I)), and the total, the negative ELBO
R + D + prior in bits per token. D(R) is monotone when a higher rate never costs reconstruction; the best
operating point is the one with the fewest total bits.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from sweeps.values import finite

TERMS = ("elbo_rate", "elbo_rec", "elbo_prior")


def rd_points(records: list[dict], key: str) -> list[dict[str, float]]:
    """One point per finished trial with all ELBO terms, sorted by rate: {value of `key`, rate, distortion,
    recon_acc, prior, total_nats, total_bits}."""
    points = []
    for r in records:
        if r["status"] != "ok" or key not in r or not all(finite(r.get(t)) for t in TERMS):
            continue
        total = r["elbo_rate"] + r["elbo_rec"] + r["elbo_prior"]
        points.append(
            {
                "value": r[key],
                "rate": r["elbo_rate"],
                "distortion": r["elbo_rec"],
                "recon_acc": r.get("recon_acc", math.nan),
                "prior": r["elbo_prior"],
                "total_nats": total,
                "total_bits": total / math.log(2),
            }
        )
    return sorted(points, key=lambda p: p["rate"])


def rd_analysis(records: list[dict], key: str) -> dict[str, Any]:
    """The points, whether D(R) is monotone (distortion non-increasing in rate) and the fewest-bits point."""
    points = rd_points(records, key)
    if not points:
        return {"key": key, "error": "no finished trial reports elbo_rate, elbo_rec and elbo_prior"}
    monotone = all(a["distortion"] >= b["distortion"] for a, b in zip(points, points[1:]))
    best = min(points, key=lambda p: p["total_bits"])
    return {"key": key, "points": points, "monotone": monotone, "best": best}


def rd_markdown(rd: dict[str, Any]) -> list[str]:
    """The report's rate-distortion section (lines)."""
    if "error" in rd:
        return ["", "## Rate-distortion", "", rd["error"]]
    lines = [
        "",
        "## Rate-distortion (nats per token unless marked)",
        "",
        f"| {rd['key']} | rate R | distortion D (rec CE) | recon acc | prior term | total (bits/token) |",
        "|---|---|---|---|---|---|",
    ]
    for p in rd["points"]:
        mark = " **best**" if p == rd["best"] else ""
        lines.append(
            f"| {p['value']} | {p['rate']:.3f} | {p['distortion']:.3f} | {p['recon_acc']:.3f} | {p['prior']:.3f} "
            f"| {p['total_bits']:.3f}{mark} |"
        )
    lines += ["", f"D(R) monotone (more rate never costs reconstruction): **{rd['monotone']}**"]
    return lines


def rd_plot(rd: dict[str, Any], path: Path) -> Path:
    """Two panels: D(R) and the total bits per token against R, the fewest-bits point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts, best = rd["points"], rd["best"]
    rates = [p["rate"] for p in pts]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, field, label in (
        (axes[0], "distortion", "distortion D: reconstruction CE (nats/token)"),
        (axes[1], "total_bits", "total: negative ELBO (bits/token)"),
    ):
        ax.plot(rates, [p[field] for p in pts], "o-")
        for p in pts:
            ax.annotate(str(p["value"]), (p["rate"], p[field]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.plot([best["rate"]], [best[field]], "*", markersize=14, color="C3", label=f"fewest bits ({best['value']})")
        ax.set_xlabel("rate R: KL(q || N(0, I)) (nats/token)")
        ax.set_ylabel(label, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"rate-distortion over {rd['key']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
