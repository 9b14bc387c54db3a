// The load test soak's operator (loadtest/soak-operator.ts): which flagged or held payout it
// requeues or decides, having asked the provider, and that it never acts on one that is neither.
// Its pass runs here against a stand-in API on 127.0.0.1 (the soak runs it against Tuma's).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { newOperatorTally, operatorAction, operatorFigures, operatorPass, requeuesPerPayoutMax, type OperatorDeps } from '../../loadtest/soak-operator.js';

const flaggedAt = '2026-12-07T09:00:00.000Z';

describe('operatorAction', () => {
  it('requeues a flagged payout the provider never executed, or executed once', () => {
    expect(operatorAction({ state: 'unknown', flaggedAt }, 0, 0)).toEqual({ kind: 'requeue', executed: false });
    expect(operatorAction({ state: 'submitted', flaggedAt }, 1, 0)).toEqual({ kind: 'requeue', executed: true });
    expect(operatorAction({ state: 'queued', flaggedAt }, 0, 3)).toEqual({ kind: 'requeue', executed: false });
  });

  it('decides a held payout paid when the provider executed it once, failed when never', () => {
    expect(operatorAction({ state: 'held', flaggedAt: null }, 1, 0)).toEqual({ kind: 'decide', outcome: 'paid' });
    expect(operatorAction({ state: 'held', flaggedAt: null }, 0, 0)).toEqual({ kind: 'decide', outcome: 'failed' });
  });

  it('never acts on a payout neither flagged nor held', () => {
    for (const state of ['unknown', 'submitted', 'queued', 'submitting', 'paid', 'failed', 'approved']) {
      expect(operatorAction({ state, flaggedAt: null }, 0, 0)).toEqual({ kind: 'leave', why: 'not_flagged' });
    }
    // Settled since it was flagged (the flag is kept on a settled row): not the operator's any more.
    expect(operatorAction({ state: 'paid', flaggedAt }, 1, 0)).toEqual({ kind: 'leave', why: 'not_flagged' });
  });

  it('leaves one executed more than once, and one requeued too often', () => {
    expect(operatorAction({ state: 'unknown', flaggedAt }, 2, 0)).toEqual({ kind: 'leave', why: 'executed_more_than_once' });
    expect(operatorAction({ state: 'held', flaggedAt: null }, 2, 0)).toEqual({ kind: 'leave', why: 'executed_more_than_once' });
    expect(operatorAction({ state: 'unknown', flaggedAt }, 0, requeuesPerPayoutMax)).toEqual({ kind: 'leave', why: 'requeued_too_often' });
  });
});

describe('operatorPass against a stand-in API', () => {
  const batch = '00000000-0000-4000-8000-0000000000b1';
  const otherBatch = '00000000-0000-4000-8000-0000000000b2';
  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  // 1 flagged, never executed; 2 flagged, executed once; 3 held, executed once; 4 listed flagged but
  // settled by the time it is read; 5 flagged in another batch (not the soak's).
  const payouts = new Map<string, { state: string; flaggedAt: string | null; batchId: string }>([
    [id(1), { state: 'unknown', flaggedAt, batchId: batch }],
    [id(2), { state: 'unknown', flaggedAt, batchId: batch }],
    [id(3), { state: 'held', flaggedAt: null, batchId: batch }],
    [id(4), { state: 'paid', flaggedAt, batchId: batch }],
    [id(5), { state: 'unknown', flaggedAt, batchId: otherBatch }],
  ]);
  const requests: { method: string; path: string; role: string; body: string }[] = [];
  let server: Server;
  let apiUrl = '';

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        requests.push({ method: req.method ?? '', path: url.pathname, role: (req.headers.authorization ?? '').replace('Bearer ', ''), body });
        const send = (status: number, json: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        if (req.method === 'GET' && url.pathname === '/v1/operations/dead-lettered') {
          return send(200, { payouts: [id(1), id(2), id(4), id(5)].map((p) => ({ payoutId: p, batchId: payouts.get(p)!.batchId, state: 'unknown' })), next: null });
        }
        const m = /^\/v1\/payouts\/([0-9a-f-]{36})(\/requeue|\/decision)?$/.exec(url.pathname);
        const p = m ? payouts.get(m[1]!) : undefined;
        if (!m || !p) return send(404, { code: 'NOT_FOUND' });
        if (!m[2]) return send(200, { payoutId: m[1], state: p.state, flaggedAt: p.flaggedAt });
        if (m[2] === '/requeue') return send(200, { payoutId: m[1], outcome: 'status_checks_restarted' });
        return send(200, { payoutId: m[1], state: (JSON.parse(body) as { outcome: string }).outcome });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('asks the provider, requeues the flagged, decides the held, touches nothing else', async () => {
    const executed = new Map([[id(1), 0], [id(2), 1], [id(3), 1], [id(4), 1]]);
    const deps: OperatorDeps = {
      apiUrl,
      token: async (role) => role,
      batchIds: new Set([batch]),
      heldPayoutIds: async () => [id(3)],
      attemptKeys: async (ids) => new Map(ids.map((p) => [p, [`${p}:1`, `${p}:2`]])),
      // Each payout's executions on its first key, none on the next.
      executions: async (keys) => keys.map((k) => (k.endsWith(':1') ? (executed.get(k.slice(0, -2)) ?? 0) : 0)),
    };
    const tally = newOperatorTally();
    await operatorPass(deps, tally);
    const acted = requests.filter((r) => r.method === 'POST').map((r) => `${r.path} ${r.role}`);
    expect(acted).toEqual([`/v1/payouts/${id(1)}/requeue admin`, `/v1/payouts/${id(2)}/requeue admin`, `/v1/payouts/${id(3)}/decision finance`]);
    expect(JSON.parse(requests.find((r) => r.path.endsWith('/decision'))!.body)).toMatchObject({ outcome: 'paid' });
    expect(requests.some((r) => r.path.includes(id(5)))).toBe(false);
    expect(operatorFigures(tally)).toMatchObject({
      flagged_for_operator: 3, operator_requeued_not_executed: 1, operator_requeued_executed: 1, held_for_finance: 1,
      finance_decided_paid: 1, finance_decided_failed: 0, operator_refused_moved_on: 0, operator_passes: 1,
    });
  });
});
