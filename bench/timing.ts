// Wall-clock timing between GPU syncs: warm-up (pipelines compile there), then `samples` samples of
// `reps` calls each, where reps is sized from the warm-up so a sample lasts about `sampleMs`. The
// result is the median milliseconds per call. Calls between syncs include dispatch overhead, which
// is what a training step pays.

export interface TimeOptions {
  samples?: number;
  /** Target length of one sample (ms); reps = clamp(sampleMs / warm-up time, 1, maxReps). */
  sampleMs?: number;
  maxReps?: number;
}

export async function timeCalls(
  call: () => unknown,
  sync: () => Promise<void>,
  { samples = 5, sampleMs = 100, maxReps = 50 }: TimeOptions = {},
): Promise<number> {
  // Two warm-up calls: the first compiles, the second estimates the per-call time.
  await call();
  await sync();
  let t0 = performance.now();
  await call();
  await sync();
  const est = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(1, Math.min(maxReps, Math.round(sampleMs / est)));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    t0 = performance.now();
    for (let i = 0; i < reps; i++) await call();
    await sync();
    times.push((performance.now() - t0) / reps);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}
