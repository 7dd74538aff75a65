"""Claims tables: each claim of a paper, the number our results give, and the conditions under which
it holds or fails, computed from the study's rows (never typed in). A study names its claim set with
``claims:``; a claim the study has no data for says so."""

from __future__ import annotations

# Roy, Wang, Raghunathan (2023), the paper this project reproduces.
PAPER_DENSITY_X = (3.0, 4.0)
PAPER_ENERGY_X = (15.0, 22.0)
PAPER_WRITE_ENERGY_X = 2.0
# The technologies the paper's claims are about: facts of the paper, not behaviour of the simulator.
PAPER_TECHNOLOGY, PAPER_BASELINE = "stt_mram", "sram"


def _ok(row) -> bool:
    return not row.get("error")


def _fmt(x: float) -> str:
    return f"{x:.3g}x"


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return _fmt(lo) if f"{lo:.3g}" == f"{hi:.3g}" else f"{lo:.3g}-{hi:.3g}x"


def _memories(row) -> list[str]:
    return [k[len("technology_"):] for k in row if k.startswith("technology_") and row[k]]


def _group(row, exclude=("workload",)) -> str:
    label_end = list(row).index("technology")
    return ", ".join(f"{k}={row[k]}" for k in list(row)[:label_end] if k not in exclude) or "all"


def density_claim(rows: list[dict], base_of: dict[int, int]) -> dict:
    """Bits per mm2 of each MRAM memory over its SRAM baseline's, by the SRAM memory's capacity."""
    by_cap: dict[int, list[float]] = {}
    for i, j in base_of.items():
        a, b = rows[i], rows[j]
        if i == j or not (_ok(a) and _ok(b)):
            continue
        for m in _memories(a):
            if a.get(f"technology_{m}") == PAPER_TECHNOLOGY and b.get(f"technology_{m}") == PAPER_BASELINE:
                d = (a[f"capacity_{m}_kib"] / a[f"area_{m}_mm2"]) / (b[f"capacity_{m}_kib"] / b[f"area_{m}_mm2"])
                by_cap.setdefault(b[f"capacity_{m}_kib"], []).append(d)
    claim = {"claim": "STT-MRAM is 3-4x denser than SRAM", "paper": "3-4x"}
    if not by_cap:
        return {**claim, "ours": "not measured", "holds": "not measured",
                "conditions": "no STT-MRAM memory with an SRAM baseline in this study"}
    all_d = [d for ds in by_cap.values() for d in ds]
    inside = [c for c, ds in by_cap.items() if PAPER_DENSITY_X[0] <= min(ds) and max(ds) <= PAPER_DENSITY_X[1]]
    cond = "; ".join(f"{c / 1024:g} MiB: {_span(ds)}" for c, ds in sorted(by_cap.items()))
    holds = "yes" if len(inside) == len(by_cap) else "partly" if inside else "no"
    return {**claim, "ours": _span(all_d), "holds": holds,
            "conditions": f"bits/mm2 of MRAM over SRAM at the same node, by SRAM capacity: {cond}"}


def energy_claim(rows: list[dict], base_of: dict[int, int]) -> dict:
    """System energy of the SRAM baseline over each MRAM point's, per hardware variant across workloads."""
    groups: dict[str, list[float]] = {}
    shares: dict[str, float] = {}
    for i, j in base_of.items():
        a, b = rows[i], rows[j]
        if (i == j or not (_ok(a) and _ok(b)) or a["technology"] == PAPER_BASELINE or b["technology"] != PAPER_BASELINE
                or not a["energy_total_pj"]):
            continue
        groups.setdefault(_group(a), []).append(b["energy_total_pj"] / a["energy_total_pj"])
        shares[_group(b, exclude=())] = b["energy_leakage_pj"] / b["energy_total_pj"]
    claim = {"claim": "15-22x system energy improvement at iso-capacity and iso-area across DNNs",
             "paper": "15-22x"}
    if not groups:
        return {**claim, "ours": "not measured", "holds": "not measured",
                "conditions": "no MRAM point with an SRAM baseline in this study"}
    allx = [x for xs in groups.values() for x in xs]
    good = [g for g, xs in groups.items() if min(xs) >= PAPER_ENERGY_X[0]]
    some = [g for g, xs in groups.items() if max(xs) >= PAPER_ENERGY_X[0]]
    holds = "yes" if len(good) == len(groups) else "partly" if some else "no"
    best = max(groups, key=lambda g: max(groups[g]))
    leaky = max(shares, key=shares.get)
    cond = (f"{len(groups)} hardware variants x workloads; best: {best} ({_span(groups[best])}); "
            + ("holds for: " + "; ".join(good) + ". " if good else "reached by no variant. ")
            + f"The leakiest SRAM baseline ({leaky}) spends {shares[leaky]:.0%} of its energy on leakage: "
            f"removing all of it would give at most {1 / (1 - shares[leaky]):.3g}x.")
    return {**claim, "ours": _span(allx), "holds": holds, "conditions": cond}


def write_energy_claim(rows: list[dict], base_of: dict[int, int]) -> dict:
    """Write energy per bit of an MRAM memory between the study's operating points."""
    claim = {"claim": ">2x write energy from lower write voltage and shorter pulses, minimal accuracy loss",
             "paper": ">2x"}
    best = None
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for m in _memories(r) if _ok(r) else ():
            if r.get(f"technology_{m}") == PAPER_TECHNOLOGY:
                groups.setdefault((m, r[f"capacity_{m}_kib"]), []).append(r)
    for (m, _), pts in sorted(groups.items()):
        if len({(r[f"write_voltage_{m}_v"], r[f"write_pulse_{m}_ns"]) for r in pts}) < 2:
            continue
        hi = max(pts, key=lambda r: r[f"write_energy_{m}_pj_per_bit"])
        lo = min(pts, key=lambda r: r[f"write_energy_{m}_pj_per_bit"])
        x = hi[f"write_energy_{m}_pj_per_bit"] / lo[f"write_energy_{m}_pj_per_bit"]
        if best is None or x > best[0]:
            best = (x, m, hi, lo)
    if best is None:
        return {**claim, "ours": "not measured", "holds": "not measured",
                "conditions": "every MRAM memory of this study runs at one write operating point"}
    x, m, hi, lo = best

    def wer(r):
        return max(r[f"p_write_p2ap_{m}"], r[f"p_write_ap2p_{m}"])

    def point(r):
        return (f"{r[f'write_energy_{m}_pj_per_bit']:.3g} pJ/bit at {r[f'write_voltage_{m}_v']} V, "
                f"{r[f'write_pulse_{m}_ns']} ns (WER {wer(r):.2g})")

    cond = (f"{m} at {hi[f'capacity_{m}_kib'] / 1024:g} MiB: {point(hi)} vs {point(lo)}; "
            "accuracy not measured here (needs the training replay)")
    return {**claim, "ours": _fmt(x), "holds": ("energy: yes" if x > PAPER_WRITE_ENERGY_X else "energy: no")
            + "; accuracy: not measured", "conditions": cond}


def paper_claims(rows: list[dict], base_of: dict[int, int]) -> list[dict]:
    return [density_claim(rows, base_of), energy_claim(rows, base_of), write_energy_claim(rows, base_of)]


CLAIM_SETS = {"paper": paper_claims}
