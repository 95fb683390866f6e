/** Timing helpers of the bench: interleaved rounds, percentiles, and markdown tables. */

export interface Timing {
  readonly samples: number[];
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
  readonly opsPerSecond: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return { samples, mean, p50: percentile(sorted, 50), p99: percentile(sorted, 99), opsPerSecond: 1000 / mean };
}

/**
 * Runs each contender `perRound` times per round, contenders in turn (A, B, C, A, B, C, …), so a
 * noisy neighbour slows them all alike; each operation is timed on its own.
 */
export async function interleave(contenders: readonly { run: () => Promise<unknown> }[], options: { rounds: number; perRound: number; warmup: number }): Promise<Timing[]> {
  for (const contender of contenders) for (let i = 0; i < options.warmup; i++) await contender.run();
  const samples = contenders.map(() => [] as number[]);
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, contender] of contenders.entries()) {
      for (let k = 0; k < options.perRound; k++) {
        const started = performance.now();
        await contender.run();
        samples[i]!.push(performance.now() - started);
      }
    }
  }
  return samples.map(timing);
}

export const ms = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** A markdown table, so the output pastes into the README as it is. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}
