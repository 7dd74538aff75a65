"""Power gating of a memory's CMOS periphery: what a wake-up costs (``power_gating: true``).

A header switch between the supply and the periphery's virtual rail cuts its leakage while the banks
are idle; a technology whose cells keep their data with the periphery off (MRAM: the MTJ is
non-volatile) may be gated, a volatile one (SRAM) may not (`MemorySpec.RETAINS_DATA_GATED`).
Model (CACTI-P's, Li et al., ICCAD 2011: a wake-up recharges the gated circuits' virtual rail):

- rail capacitance C = gated periphery area x ``RAIL_FF_PER_UM2``; the periphery area is the memory's
  area less its cells (``capacity x cell_area_f2 x F^2``, check bits included with ECC);
- wake-up energy = C VDD^2: charging C from 0 V to VDD draws Q VDD from the supply (half stored, half
  lost in the switch); the rail is taken as fully discharged (a short gap leaves charge: conservative);
- wake-up latency = C VDD / I_peak = energy / peak power: the switches are turned on in a chain so the
  in-rush current stays within the block's peak active current, which its supply grid carries
  (Keating et al., Low Power Methodology Manual, Springer 2007, ch. 4). Peak power = every bank
  accessing back to back: banks x max(read energy / read occupancy, write energy / write occupancy);
- while gated the memory leaks nothing (the high-Vt header's off current, 10-1000x below the
  periphery's, is neglected); the switch's on-resistance drop and area are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

# Rail capacitance per um^2 of periphery: ~2.5 um of transistor width per um^2 of dense periphery layout
# (decoders, drivers, sense amplifiers at 22 nm) x ~1.6 fF per um of width (gate ~1 fF/um plus overlap and
# junction, ITRS 2011 PIDS tables at 22 nm). An estimate: wake-up energy and latency scale with it.
RAIL_FF_PER_UM2 = 4.0
# Supply voltage per node: NVSim's (and CACTI's) technology tables, from ITRS: 0.8 V at 22 nm (HP and LSTP),
# 0.9 V at 32 nm HP; linear in between.
VDD_V = {22.0: 0.8, 32.0: 0.9}


@dataclass(frozen=True)
class WakeUp:
    latency_ns: float
    energy_pj: float


def vdd_v(node_nm: float) -> float:
    lo, hi = min(VDD_V), max(VDD_V)
    x = min(max((node_nm - lo) / (hi - lo), 0.0), 1.0)
    return VDD_V[lo] + x * (VDD_V[hi] - VDD_V[lo])


def periphery_wake_up(periphery_um2: float, node_nm: float, peak_power_mw: float) -> WakeUp:
    """The module's model for ``periphery_um2`` of gated periphery whose peak power is ``peak_power_mw``."""
    vdd = vdd_v(node_nm)
    energy_pj = max(periphery_um2, 0.0) * RAIL_FF_PER_UM2 * 1e-3 * vdd * vdd  # fF -> pF; pF x V^2 = pJ
    return WakeUp(latency_ns=energy_pj / peak_power_mw if peak_power_mw > 0 else 0.0, energy_pj=energy_pj)


def peak_power_mw(banks: int, read_energy_pj: float, read_occupancy_ns: float, write_energy_pj: float,
                  write_occupancy_ns: float) -> float:
    """Every bank accessing back to back (pJ / ns = mW), the worse of reads and writes."""
    return banks * max(read_energy_pj / read_occupancy_ns, write_energy_pj / write_occupancy_ns)
