// The pure pieces of `npm run loadtest` (issue #17): percentile maths, memory growth over a soak,
// the results file's JSON shape and its markdown. No I/O here, so a jest test keeps them honest
// (test/unit/loadtest-report.test.ts) while the load runs themselves stay out of `npm test`.

/** The keys the results JSON carries at its top level, always (null where a scenario did not run or failed). */
export const requiredKeys = [
  'status_p99_ms_at_1000rps',
  'callbacks_per_s',
  'callbacks_p99_ms',
  'e2e_payouts_per_s',
  'e2e_payouts_per_s_at_300ms',
  'gateway_cpu_ms_per_payout',
  'ingest_payouts_per_s',
  'double_executions',
  'ledger_verified',
  'soak_rss_growth_pct',
  'cores',
] as const;
export type RequiredKey = (typeof requiredKeys)[number];

/** The issue's targets on a 2-core machine, beside each figure in the markdown. */
export const targets: Readonly<Partial<Record<RequiredKey, { readonly op: '<=' | '>=' | '==' | '<'; readonly value: number | boolean }>>> = {
  status_p99_ms_at_1000rps: { op: '<=', value: 10 },
  callbacks_per_s: { op: '>=', value: 5_000 },
  callbacks_p99_ms: { op: '<=', value: 50 },
  e2e_payouts_per_s: { op: '>=', value: 5_000 },
  e2e_payouts_per_s_at_300ms: { op: '>=', value: 5_000 },
  gateway_cpu_ms_per_payout: { op: '<=', value: 0.4 },
  ingest_payouts_per_s: { op: '>=', value: 50_000 },
  double_executions: { op: '==', value: 0 },
  ledger_verified: { op: '==', value: true },
  soak_rss_growth_pct: { op: '<', value: 10 },
};

/** One scenario's outcome: its figures (a flat record), its checks, and what went wrong if it failed. */
export interface ScenarioResult {
  readonly name: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly figures: Readonly<Record<string, number | string | boolean | null>>;
  /** Executions at the simulator beyond the first, per idempotency key (null: nothing executed). */
  readonly doubleExecutions: number | null;
  readonly ledgerVerified: boolean | null;
  readonly error: string | null;
}

export interface LoadtestRun {
  readonly startedAt: string;
  readonly commit: string;
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly postgres: string;
  readonly kafka: string;
  readonly mode: 'full' | 'quick';
  readonly loadAverage: readonly number[];
  /** Node's options of the gateway processes, as the run gave them (the young generation's, LOADTEST_GATEWAY_NODE_ARGS). */
  readonly gatewayNodeOptions: string;
  readonly scenarios: readonly ScenarioResult[];
}

/**
 * The p-th percentile (0 < p ≤ 100) of `values` by the nearest-rank method: the smallest value
 * with at least p% of the values at or below it (PostgreSQL's percentile_disc). NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
}

/** The median: the mean of the two middle values when their number is even. NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * How much a process's memory grew over a soak, in percent: the median of the last quarter of
 * the samples taken after warm-up against the median of the first quarter (medians, so one GC's
 * peak or trough does not decide). Samples before `warmupMs` (from the first sample) are dropped.
 * null when fewer than 8 samples are left.
 */
export function rssGrowthPct(samples: readonly { readonly atMs: number; readonly rssBytes: number }[], warmupMs: number): number | null {
  if (samples.length === 0) return null;
  const start = samples[0]!.atMs;
  const kept = samples.filter((s) => s.atMs - start >= warmupMs).map((s) => s.rssBytes);
  if (kept.length < 8) return null;
  const quarter = Math.floor(kept.length / 4);
  const first = median(kept.slice(0, quarter));
  const last = median(kept.slice(kept.length - quarter));
  return round((100 * (last - first)) / first, 1);
}

/**
 * The most payouts per second `cores` could settle end to end if they did nothing but run the
 * gateway (Tuma, PostgreSQL, the broker: `gatewayMsPerPayout` of CPU each) and the simulator
 * (`simulatorMsPerPayout`), every core busy and nothing else running (no load generator, no kernel
 * overhead): an upper bound on what the machine can show, whatever the gateway's design. Null
 * without figures to divide by.
 */
export function machineCeilingPerS(cores: number, gatewayMsPerPayout: number | null, simulatorMsPerPayout: number | null): number | null {
  if (gatewayMsPerPayout === null || simulatorMsPerPayout === null || !(cores > 0)) return null;
  const perPayout = gatewayMsPerPayout + simulatorMsPerPayout;
  return perPayout > 0 ? Math.floor((cores * 1000) / perPayout) : null;
}

export const round = (n: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** A figure of one scenario, or null when that scenario did not run or failed before it. */
function figure(run: LoadtestRun, scenario: string, key: string): number | null {
  const s = run.scenarios.find((x) => x.name === scenario);
  const v = s?.figures[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The results JSON: the issue's keys at the top level (null where not measured), then the run's
 * context and every scenario in full.
 */
export function resultJson(run: LoadtestRun): Record<RequiredKey, unknown> & Record<string, unknown> {
  const executed = run.scenarios.filter((s) => s.doubleExecutions !== null);
  const verified = run.scenarios.filter((s) => s.ledgerVerified !== null);
  const top: Record<RequiredKey, unknown> = {
    status_p99_ms_at_1000rps: figure(run, 'status-reads', 'p99_ms'),
    callbacks_per_s: figure(run, 'callback-storm', 'accepted_per_s'),
    callbacks_p99_ms: figure(run, 'callback-storm', 'p99_ms'),
    e2e_payouts_per_s: figure(run, 'e2e-0ms', 'payouts_per_s'),
    e2e_payouts_per_s_at_300ms: figure(run, 'e2e-300ms', 'payouts_per_s'),
    gateway_cpu_ms_per_payout: figure(run, 'e2e-0ms', 'cpu_ms_per_payout'),
    ingest_payouts_per_s: figure(run, 'ingest', 'payouts_per_s'),
    double_executions: executed.length === 0 ? null : executed.reduce((n, s) => n + (s.doubleExecutions ?? 0), 0),
    ledger_verified: verified.length === 0 ? null : verified.length === run.scenarios.length && verified.every((s) => s.ledgerVerified === true),
    soak_rss_growth_pct: figure(run, 'soak', 'rss_growth_pct_max'),
    cores: run.cores,
  };
  return {
    ...top,
    started_at: run.startedAt,
    commit: run.commit,
    mode: run.mode,
    cpu_model: run.cpuModel,
    node: run.node,
    postgres: run.postgres,
    kafka: run.kafka,
    load_average_at_start: run.loadAverage,
    gateway_node_options: run.gatewayNodeOptions,
    scenarios: run.scenarios,
  };
}

/** True when `value` meets the target of `key`; null when there is no target or no value. */
export function meets(key: RequiredKey, value: unknown): boolean | null {
  const t = targets[key];
  if (!t || value === null || value === undefined) return null;
  switch (t.op) {
    case '<=':
      return typeof value === 'number' && value <= (t.value as number);
    case '<':
      return typeof value === 'number' && value < (t.value as number);
    case '>=':
      return typeof value === 'number' && value >= (t.value as number);
    case '==':
      return value === t.value;
  }
}

const cell = (v: unknown): string =>
  v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : String(v)) : String(v).replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The results as markdown: the headline figures against their targets, then each scenario's table. */
export function renderMarkdown(run: LoadtestRun): string {
  const json = resultJson(run);
  const lines: string[] = [
    `# Load test ${run.startedAt.slice(0, 10)} (${run.mode})`,
    '',
    `Commit \`${run.commit}\`, ${run.cores} cores (${run.cpuModel}), Node ${run.node}, PostgreSQL ${run.postgres}, Kafka ${run.kafka}; ` +
      `load average at start ${run.loadAverage.map((l) => l.toFixed(2)).join(' / ')}. Started ${run.startedAt}. ` +
      `The gateway's Node options: ${run.gatewayNodeOptions}.`,
    '',
    '## Headline',
    '',
    '| figure | measured | target | met |',
    '|---|---:|---|---|',
  ];
  for (const key of requiredKeys) {
    const t = targets[key];
    const met = meets(key, json[key]);
    lines.push(`| \`${key}\` | ${cell(json[key])} | ${t ? `${t.op} ${String(t.value)}` : ''} | ${met === null ? '' : met ? 'yes' : '**no**'} |`);
  }
  for (const s of run.scenarios) {
    lines.push('', `## ${s.name}${s.ok ? '' : ' — FAILED'}`, '', `${s.seconds.toFixed(1)} s; double executions ${cell(s.doubleExecutions)}; ledger verified ${cell(s.ledgerVerified)}.`);
    if (s.error) lines.push('', `Error: ${cell(s.error)}`);
    lines.push('', '| figure | value |', '|---|---:|');
    for (const [k, v] of Object.entries(s.figures)) lines.push(`| ${k} | ${cell(v)} |`);
  }
  return `${lines.join('\n')}\n`;
}
