// The worker moves the payouts a provider accepted with moveAccepted(), one statement for a chunk,
// each with its own provider reference; that statement writes move()'s status-check rules again in
// SQL. This suite holds the two to the same result for every combination of the rule's inputs, so
// that a change to one that the other misses fails here. Real PostgreSQL.
import { sql } from 'kysely';
import { payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign, type PayoutLine } from '../support/fixtures.js';

let api: TestApi;
beforeAll(async () => (api = await startTestApi()));
afterAll(async () => api?.close());

const hour = 3_600_000;
const given = { none: undefined, earlier: -hour, later: hour } as const;
const prior = { unset: null, earlier: -2 * hour, later: 2 * hour } as const;
const cases = Object.entries(given).flatMap(([g, at]) =>
  Object.entries(prior).flatMap(([p, was]) => [false, true].map((keep) => ({ name: `given ${g}, set ${p}, keep ${keep}`, at, was, keep }))),
);

interface Row {
  state: string;
  provider_reference: string | null;
  status_check_at: Date | null;
  status_checks: number;
  status_flagged_at: Date | null;
  dispatch_at: Date | null;
}

async function rowOf(id: string): Promise<Row> {
  const r = await sql<Row>`SELECT state, provider_reference, status_check_at, status_checks, status_flagged_at, dispatch_at FROM payouts WHERE id = ${id}::uuid`.execute(api.database.db);
  return r.rows[0]!;
}

async function transitionsOf(id: string) {
  return (await sql<{ from_state: string; to_state: string; cause: string; at: Date }>`SELECT from_state, to_state, cause, at FROM payout_transitions WHERE payout_id = ${id}::uuid ORDER BY id`.execute(api.database.db)).rows;
}

describe('moveAccepted and move() into submitted', () => {
  let ids: string[];

  beforeAll(async () => {
    const s = await setUpProgramme(api.persistence, 1_000_000_00n);
    const rows: PayoutLine[] = Array.from({ length: cases.length * 2 }, (_, i) => ({ ref: `m-${i}`, provider: 'mpesa', msisdn: `+2547230${String(10000 + i)}`, amount: '10.00' }));
    const document = batchDocument(s, rows);
    expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
    ids = rows.map((r) => payoutIdOf(document.batchId, r.ref));
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('when %s, then both leave the payout alike', async (_name, c, i) => {
    const [viaMove, viaAccepted] = [ids[2 * i]!, ids[2 * i + 1]!];
    const was = c.was === null ? null : new Date(Date.now() + c.was);
    // Both where a started attempt leaves them, with checks already counted and a flag standing.
    await sql`UPDATE payouts SET state = 'submitting', status_check_at = ${was}, status_checks = 3, status_flagged_at = now() - interval '1 day'
              WHERE id IN (${viaMove}::uuid, ${viaAccepted}::uuid)`.execute(api.database.db);
    const statusCheckAt = c.at === undefined ? undefined : new Date(Date.now() + c.at);
    const fields = { ...(statusCheckAt ? { statusCheckAt } : {}), keepStatusChecks: c.keep };
    // One transaction: now() is the same instant for both.
    const moved = await api.persistence.transaction(async (tx) => {
      await tx.payouts.move([viaMove], 'submitting', 'submitted', 'provider accepted', { providerReference: 'REF-1', ...fields });
      await tx.payouts.moveAccepted([{ payoutId: viaAccepted, providerReference: 'REF-1' }], fields);
      return { ok: true as const, value: undefined };
    });
    expect(moved.ok).toBe(true);
    const [a, b] = [await rowOf(viaMove), await rowOf(viaAccepted)];
    expect(b).toEqual(a);
    // Not vacuous: each really moved, and the rule did something.
    expect(a.state).toBe('submitted');
    expect(a.status_check_at).not.toBeNull();
    expect(a.status_checks).toBe(c.keep ? 3 : 0);
    expect((await transitionsOf(viaAccepted)).at(-1)).toEqual((await transitionsOf(viaMove)).at(-1));
  });

  it('when a payout is not in submitting, then moveAccepted moves nothing and its transaction rolls back', async () => {
    const [id, other] = [ids[0]!, ids[1]!];
    await sql`UPDATE payouts SET state = 'submitting' WHERE id = ${other}::uuid`.execute(api.database.db);
    const before = [await rowOf(id), await rowOf(other)];
    await expect(
      api.persistence.transaction(async (tx) => {
        await tx.payouts.moveAccepted([{ payoutId: other, providerReference: 'R-2' }, { payoutId: id, providerReference: 'R-3' }], {});
        return { ok: true as const, value: undefined };
      }),
    ).rejects.toThrow(/invariant violated/);
    expect([await rowOf(id), await rowOf(other)]).toEqual(before);
  });
});
