"""DRAM channels and the DMA transfers that cross them.

All channels are interleaved by address, so a transfer spreads over every channel: the DRAM is a
work-conserving server of ``bytes_per_cycle`` (channels x per-channel bandwidth, in accelerator
cycles) with a fixed access latency. Transfers are served in arrival order; concurrent DMA streams
(prefetch, write-back, spills) therefore contend for the channels.
"""

from __future__ import annotations

import math

from simulator.config import DramConfig, ns_to_cycles


class Dram:
    def __init__(self, cfg: DramConfig, clock_ghz: float, ideal: bool = False):
        self.cfg = cfg
        self.ideal = ideal
        # GB/s divided by Gcycle/s is bytes per cycle
        self.bytes_per_cycle = cfg.channels * cfg.bandwidth_gbps / clock_ghz
        self.latency = 0 if ideal else ns_to_cycles(cfg.latency_ns, clock_ghz)
        self.next_free = 0
        self.busy_cycles = 0

    def occupancy(self, nbytes: int) -> int:
        if self.ideal or nbytes <= 0:
            return 0
        return max(1, math.ceil(nbytes / self.bytes_per_cycle - 1e-9))

    def transfer(self, t: int, nbytes: int) -> tuple[int, int, int]:
        """(start, end of channel occupancy, data complete) of a transfer requested at cycle t."""
        occ = self.occupancy(nbytes)
        start = max(t, self.next_free)
        end = start + occ
        if occ:
            self.next_free = end
            self.busy_cycles += occ
        return start, end, end + (self.latency if occ else 0)
