"""Device-layer speed and accuracy figures: LLG throughput, Fokker-Planck solve time, closed-form/FP ratios.

Run by hand: /work/venv/bin/python benchmarks/bench_device.py [--threads N]
"""

import argparse
import time

import numba
import numpy as np

from models import fokker_planck, llg, mtj


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_llg(params, n_traj, repeats):
    n_steps, dt = llg.step_count(2.0, params.tau_d_ns, params.alpha, llg.DEFAULT_DT_REDUCED)
    seeds = np.arange(1, n_traj + 1, dtype=np.uint64)
    run = lambda: llg.final_mz(params.delta, 3.0, n_steps, dt, params.alpha, seeds)  # noqa: E731
    run()
    seconds = best_of(run, repeats)
    print(f"LLG (stochastic Heun, {numba.get_num_threads()} threads): {n_traj} trajectories x {n_steps} steps "
          f"in {seconds:.3f} s = {n_traj * n_steps / seconds:.3e} trajectory-steps/s")


def bench_fp(params, repeats):
    print("Fokker-Planck solve time per point (default grid "
          f"{fokker_planck.DEFAULT_N_CELLS} cells, step {fokker_planck.DEFAULT_STEP_TAU} tau_D):")
    fokker_planck.wer(params.delta, 3.0, 1.0, params.tau_d_ns)
    for i, t_pw in ((0.5, 10.0), (1.5, 10.0), (3.0, 5.0), (3.0, 10.0), (3.0, 20.0)):
        seconds = best_of(lambda: fokker_planck.wer(params.delta, i, t_pw, params.tau_d_ns), repeats)
        value = fokker_planck.wer(params.delta, i, t_pw, params.tau_d_ns)
        print(f"  i={i:<4} t_pw={t_pw:>5} ns  WER={value:.4e}  {1e3 * seconds:7.2f} ms")
    fine = fokker_planck.wer(params.delta, 3.0, 20.0, params.tau_d_ns, n_cells=2400, step_tau=0.0025)
    default = fokker_planck.wer(params.delta, 3.0, 20.0, params.tau_d_ns)
    print(f"  relative error of the default grid at i=3, 20 ns (vs 4x finer in space and time): {abs(default / fine - 1):.2e}")


def ratio_table(params):
    print(f"Closed form / Fokker-Planck WER at delta={params.delta:g}, tau_D={params.tau_d_ns:.3f} ns:")
    pulses = (5.0, 10.0, 20.0, 40.0)
    print("  i      " + "".join(f"{p:>22.0f} ns" for p in pulses))
    for i in (1.2, 1.5, 2.0, 3.0):
        cells = []
        for t_pw in pulses:
            fp = fokker_planck.wer(params.delta, i, t_pw, params.tau_d_ns)
            closed = mtj.wer_precessional(params.delta, i, t_pw, params.tau_d_ns)
            cells.append(f"{closed / fp:9.3g}x (FP {fp:8.2e})")
        print(f"  {i:<5}" + "".join(f"{c:>25}" for c in cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--trajectories", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    params = mtj.load_default()
    bench_llg(params, args.trajectories, args.repeats)
    bench_fp(params, args.repeats)
    ratio_table(params)


if __name__ == "__main__":
    main()
