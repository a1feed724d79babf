// Small numeric helpers for the benchmark: medians, spreads, formatting.

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const min = (xs: number[]): number => (xs.length ? Math.min(...xs) : NaN);
export const max = (xs: number[]): number => (xs.length ? Math.max(...xs) : NaN);

/** Seconds with two decimals ("1.23 s"); "n/a" for NaN. */
export const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

export const pct = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(0)} %`);

export const ratio = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)}x`);

export type Verdict = 'PASS' | 'MISS' | 'n/a';
export const verdict = (ok: boolean | undefined): Verdict => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
