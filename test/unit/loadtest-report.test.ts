// The pure pieces of `npm run loadtest` (loadtest/loadtest-report.ts): the load runs stay out of
// `npm test`, but the maths and the results file's shape are checked here so that they cannot rot.
import { machineCeilingPerS, median, meets, percentile, renderMarkdown, requiredKeys, resultJson, rssGrowthPct, type LoadtestRun, type ScenarioResult } from '../../loadtest/loadtest-report.js';

const scenario = (name: string, figures: ScenarioResult['figures'], extra: Partial<ScenarioResult> = {}): ScenarioResult => ({
  name, ok: true, seconds: 1, figures, doubleExecutions: null, ledgerVerified: true, error: null, ...extra,
});

const run = (scenarios: ScenarioResult[]): LoadtestRun => ({
  startedAt: '2026-12-07T03:00:00.000Z', commit: 'abc123', cores: 2, cpuModel: 'test', node: 'v20', postgres: '15', kafka: '127.0.0.1:29192',
  mode: 'quick', loadAverage: [1, 2, 3], gatewayNodeOptions: '--max-semi-space-size=32 with the API', scenarios,
});

describe('percentile (nearest rank, as PostgreSQL percentile_disc)', () => {
  it('answers the smallest value with at least p% at or below it', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
  });
  it('is NaN with no values and refuses p outside (0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('median', () => {
  it('takes the middle, or the mean of the two middle values', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('rssGrowthPct', () => {
  const mb = 2 ** 20;
  it('compares the medians of the last and first quarters after warm-up', () => {
    // 10 s of warm-up at 500 MB (dropped), then 100 MB for 20 samples, then 110 MB for 20.
    const samples = [
      ...Array.from({ length: 10 }, (_, i) => ({ atMs: i * 1000, rssBytes: 500 * mb })),
      ...Array.from({ length: 20 }, (_, i) => ({ atMs: 10_000 + i * 1000, rssBytes: 100 * mb })),
      ...Array.from({ length: 20 }, (_, i) => ({ atMs: 30_000 + i * 1000, rssBytes: 110 * mb })),
    ];
    expect(rssGrowthPct(samples, 10_000)).toBe(10);
  });
  it('is flat at 0 and negative when memory is given back; null with too few samples', () => {
    const flat = Array.from({ length: 20 }, (_, i) => ({ atMs: i * 1000, rssBytes: 200 * mb }));
    expect(rssGrowthPct(flat, 0)).toBe(0);
    const falling = Array.from({ length: 20 }, (_, i) => ({ atMs: i * 1000, rssBytes: (200 - i) * mb }));
    expect(rssGrowthPct(falling, 0)!).toBeLessThan(0);
    expect(rssGrowthPct(flat.slice(0, 7), 0)).toBeNull();
    expect(rssGrowthPct([], 0)).toBeNull();
  });
});

describe('the results JSON', () => {
  it('carries every key the issue names at its top level, null where a scenario did not run', () => {
    const json = resultJson(run([]));
    for (const k of requiredKeys) expect(json).toHaveProperty(k);
    expect(json.cores).toBe(2);
    expect(json.e2e_payouts_per_s).toBeNull();
    expect(json.double_executions).toBeNull();
    expect(json.ledger_verified).toBeNull();
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
  it('takes each headline figure from its scenario and sums double executions', () => {
    const json = resultJson(run([
      scenario('e2e-0ms', { payouts_per_s: 400, cpu_ms_per_payout: 4.4 }, { doubleExecutions: 0 }),
      scenario('e2e-300ms', { payouts_per_s: 250 }, { doubleExecutions: 1 }),
      scenario('status-reads', { p99_ms: 12 }),
      scenario('callback-storm', { accepted_per_s: 3000, p99_ms: 80 }, { doubleExecutions: 0 }),
      scenario('ingest', { payouts_per_s: 17_800 }),
      scenario('soak', { rss_growth_pct_max: 3.5 }, { doubleExecutions: 0 }),
    ]));
    expect(json).toMatchObject({
      e2e_payouts_per_s: 400, gateway_cpu_ms_per_payout: 4.4, e2e_payouts_per_s_at_300ms: 250, status_p99_ms_at_1000rps: 12,
      callbacks_per_s: 3000, callbacks_p99_ms: 80, ingest_payouts_per_s: 17_800, soak_rss_growth_pct: 3.5, double_executions: 1, ledger_verified: true,
    });
  });
  it('says the ledger is not verified when one scenario failed it or was not checked', () => {
    expect(resultJson(run([scenario('a', {}), scenario('b', {}, { ledgerVerified: false })])).ledger_verified).toBe(false);
    expect(resultJson(run([scenario('a', {}), scenario('b', {}, { ledgerVerified: null })])).ledger_verified).toBe(false);
  });
});

describe('the markdown', () => {
  it('has the commit, the cores, every headline key against its target and each scenario', () => {
    const md = renderMarkdown(run([scenario('e2e-0ms', { payouts_per_s: 400, final_states: 'paid 10|x' }, { doubleExecutions: 0 })]));
    expect(md).toContain('`abc123`');
    expect(md).toContain('2 cores');
    for (const k of requiredKeys) expect(md).toContain(`\`${k}\``);
    expect(md).toMatch(/\| `e2e_payouts_per_s` \| 400 \| >= 5000 \| \*\*no\*\* \|/);
    expect(md).toContain('## e2e-0ms');
    expect(md).toContain('paid 10\\|x'); // a pipe in a value does not break the table
  });
  it('judges each target', () => {
    expect(meets('status_p99_ms_at_1000rps', 10)).toBe(true);
    expect(meets('status_p99_ms_at_1000rps', 10.5)).toBe(false);
    expect(meets('soak_rss_growth_pct', 10)).toBe(false);
    expect(meets('ledger_verified', true)).toBe(true);
    expect(meets('cores', 2)).toBeNull();
    expect(meets('e2e_payouts_per_s', null)).toBeNull();
  });
});

describe('machineCeilingPerS (what the cores could settle, the gateway and the simulator alone on them)', () => {
  it('divides the cores\' milliseconds by the CPU one payout costs both, rounded down', () => {
    expect(machineCeilingPerS(2, 0.4, 0.1)).toBe(4_000);
    expect(machineCeilingPerS(2, 1.12, 0.22)).toBe(1_492);
    expect(machineCeilingPerS(4, 0.3, 0.1)).toBe(10_000);
  });
  it('shows the issue\'s 5,000/s out of two cores\' reach at its own 0.4 ms once the simulator costs anything', () => {
    expect(machineCeilingPerS(2, 0.4, 0)).toBe(5_000);
    expect(machineCeilingPerS(2, 0.4, 0.01)!).toBeLessThan(5_000);
  });
  it('is null without a figure or with nothing to divide by', () => {
    expect(machineCeilingPerS(2, null, 0.2)).toBeNull();
    expect(machineCeilingPerS(2, 0.4, null)).toBeNull();
    expect(machineCeilingPerS(0, 0.4, 0.2)).toBeNull();
    expect(machineCeilingPerS(2, 0, 0)).toBeNull();
  });
});
