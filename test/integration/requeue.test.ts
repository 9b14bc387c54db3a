// Operators and stuck payouts (issue #6 item 3): a payout whose status checks run out is flagged
// and dead-lettered with the reason (tuma.payouts.dlq.v1, source "status-poller"); `tuma payouts
// requeue` starts its checks over; a settled payout is never requeued; bad arguments are refused.
// Real PostgreSQL, the in-process transport, the MoMo simulator holding a transfer pending.
import { pino } from 'pino';
import { requeuePayout } from '../../src/application/requeue-payout.js';
import type { Delivery } from '../../src/application/ports.js';
import { runPayoutsCli } from '../../src/cli/payouts-cli.js';
import type { Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const waitMs = 45_000;

describe('requeueing stuck payouts', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let config: Config;
  const dead: Delivery[] = [];
  let stopDlq: () => Promise<void>;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = await testConfig(database.url, 'in-process', { STATUS_CHECKS_MAX: '1', STATUS_CHECK_FIRST_AFTER_MS: '200', STATUS_CHECK_BACKOFF_MAX_MS: '200', STATUS_POLL_INTERVAL_MS: '50' });
    runtime = await startTestRuntime(config);
    const dlq = await runtime.transport.subscribe({ topic: runtime.topics.dlq, groupId: 'requeue-test-dlq', concurrency: 1, handle: async (d) => void dead.push(d) });
    stopDlq = () => dlq.stop();
  });

  afterAll(async () => {
    await stopDlq?.();
    await runtime?.stop();
    await database?.drop();
  });

  async function ugandanBatch(rows: { ref: string; msisdn: string; amount: string }[]) {
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 10_000_000n, floatMinor: 100_000_000n });
    const document = { ...batchDocument(s, rows.map((r) => ({ ...r, provider: 'mtn-momo' })), { total: String(rows.reduce((t, r) => t + Number(r.amount), 0)) }), currency: 'UGX' };
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    return { document, auth };
  }
  const deps = () => ({ persistence: runtime.persistence, transport: null, topics: runtime.topics, now: () => new Date(), actor: 'operator:test-ops' });
  const auditOf = async (payoutId: string) => (await runtime.persistence.read.auditLog.eventsAfter(null, 1_000)).filter((e) => e.objectId === payoutId).map((e) => [e.action, e.actor, e.detail.outcome]);
  const flags = (payoutId: string) => dead.filter((d) => d.key === payoutId).map((d) => JSON.parse(d.value.toString('utf8')) as { sourceTopic: string; reason: string; valueBase64: string });

  it('when a payout stays pending past its last check, then it is dead-lettered for operators; requeued, its checks start over', async () => {
    runtime.momoSimulator!.setFaults({ rules: [{ pattern: '^256772000901$', fault: 'pending-forever' }] });
    const { document } = await ugandanBatch([{ ref: 'stuck', msisdn: '+256772000901', amount: '1000' }]);
    const payoutId = payoutIdOf(document.batchId, 'stuck');
    const first = await net.eventually(async () => (flags(payoutId).length >= 1 ? flags(payoutId) : null), waitMs, 'the payout to be dead-lettered');
    expect(first[0]).toMatchObject({ sourceTopic: 'status-poller', reason: expect.stringMatching(/^status checks exhausted after 1 .*tuma payouts requeue/) });
    expect(JSON.parse(Buffer.from(first[0]!.valueBase64, 'base64').toString('utf8'))).toEqual({ payoutId });

    expect(await requeuePayout(deps(), payoutId)).toEqual({ ok: true, value: 'status_checks_restarted' });
    expect(await auditOf(payoutId)).toEqual([['payout.requeue', 'operator:test-ops', 'status_checks_restarted']]);
    // Asked again (still pending at MoMo): flagged and dead-lettered a second time.
    await net.eventually(async () => (flags(payoutId).length >= 2 ? true : null), waitMs, 'the requeued payout to be checked again');
  });

  it('when a settled payout or an unknown id is requeued, then it is refused and nothing changes', async () => {
    runtime.momoSimulator!.setFaults({ rules: [] });
    const { document, auth } = await ugandanBatch([{ ref: 'done', msisdn: '+256772000902', amount: '1000' }]);
    const payoutId = payoutIdOf(document.batchId, 'done');
    await net.eventually(async () => (((await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutId}`, { headers: auth })).json()) as { state: string }).state === 'paid' ? true : null), waitMs, 'the payout to be paid');
    expect(await requeuePayout(deps(), payoutId)).toMatchObject({ ok: false, error: { code: 'PAYOUT_NOT_REQUEUEABLE', detail: 'settled (paid): a settled payout is never sent again' } });
    expect(await requeuePayout(deps(), '00000000-0000-4000-8000-000000000000')).toMatchObject({ ok: false, error: { code: 'PAYOUT_NOT_FOUND' } });
    // A refusal is no privileged act done: nothing audited.
    expect(await auditOf(payoutId)).toEqual([]);
  });

  it.each([
    ['no subcommand', []],
    ['another subcommand', ['resend', '00000000-0000-4000-8000-000000000000']],
    ['no payout id', ['requeue']],
    ['a payout id that is not a UUID', ['requeue', "1'; DROP TABLE payouts; --"]],
    ['too many payout ids', ['requeue', ...Array.from({ length: 1_001 }, () => '00000000-0000-4000-8000-000000000000')]],
  ])('when `tuma payouts` gets %s, then it refuses with its usage and exit 2', async (_name, argv) => {
    const errors: string[] = [];
    expect(await runPayoutsCli(argv, config, pino({ level: 'silent' }), () => undefined, (l) => errors.push(l))).toBe(2);
    expect(errors.join('\n')).toMatch(/tuma payouts requeue/);
  });

  it('when `tuma payouts requeue` names a payout that does not exist, then it says why and exits 1', async () => {
    const lines: string[] = [];
    const errors: string[] = [];
    expect(await runPayoutsCli(['requeue', '00000000-0000-4000-8000-000000000000'], { ...config, kafka: { ...config.kafka, brokers: null } }, pino({ level: 'silent' }), (l) => lines.push(l), (l) => errors.push(l))).toBe(1);
    expect(errors).toEqual(['00000000-0000-4000-8000-000000000000: PAYOUT_NOT_FOUND (no such payout)']);
  });
});
