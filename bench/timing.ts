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

/**
 * `rounds` rounds of [kiln, then each peer], for rows compared on a shared machine whose load drifts
 * within seconds: the ms of every round per side. A peer that throws (or returns undefined) is left
 * out from then on, with its earlier rounds, and says why once.
 */
export async function alternateRounds(
  rounds: number,
  kiln: () => Promise<number>,
  peers: readonly (readonly [string, () => Promise<number | undefined>])[],
): Promise<{ kiln: number[]; peers: Map<string, number[]> }> {
  const kilnMs: number[] = [];
  const peerMs = new Map(peers.map(([name]) => [name, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    kilnMs.push(await kiln());
    for (const [name, time] of peers) {
      const ms = peerMs.get(name);
      if (!ms) continue;
      try {
        const t = await time();
        if (t === undefined) throw new Error('not supported');
        ms.push(t);
      } catch (e) {
        console.warn(`  ${name}: ${(e as Error).message.split('\n')[0]}`);
        peerMs.delete(name);
      }
    }
  }
  return { kiln: kilnMs, peers: peerMs };
}
