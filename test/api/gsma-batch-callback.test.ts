// A GSMA provider batch's callback (issue #20 item 3): PUT /v1/callbacks/gsma/batch/{batchKey}
// names a batch Tuma sent; it moves nothing itself and makes the status queries of the batch's
// items that still await an answer due now. The key is its credential: a key of no batch is 401
// CALLBACK_UNAUTHENTICATED, as an unknown token is; the body is never read.
// Real PostgreSQL.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { batchCallbackUrl } from '../../src/adapters/providers/gsma/gsma-bulk-provider.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

let api: TestApi;
let ids: Map<string, string>;
const batchKey = randomUUID();
const keys = { waiting: randomUUID(), paid: randomUUID(), other: randomUUID() };

beforeAll(async () => {
  api = await startTestApi();
  const s = await setUpProgramme(api.persistence, 1_000_00n);
  ids = await insertPayouts(api.database.pool, s, [
    { receipt: 'waiting', amountMinor: 10000n, state: 'submitted', accountId: 'gsma-sl', provider: 'gsma', noReference: true, idempotencyKey: keys.waiting },
    { receipt: 'paid', amountMinor: 10000n, state: 'paid', accountId: 'gsma-sl', provider: 'gsma', idempotencyKey: keys.paid },
    // In no batch: a callback for the batch leaves it alone.
    { receipt: 'other', amountMinor: 10000n, state: 'submitted', accountId: 'gsma-sl', provider: 'gsma', noReference: true, idempotencyKey: keys.other },
  ]);
  await api.database.pool.query('INSERT INTO gsma_batches (batch_key, account_id, item_count) VALUES ($1, $2, 2)', [batchKey, 'gsma-sl']);
  await api.database.pool.query('INSERT INTO gsma_batch_items (item_key, batch_key) VALUES ($1, $3), ($2, $3)', [keys.waiting, keys.paid, batchKey]);
  // Not due: the poller would ask in an hour.
  await api.database.pool.query("UPDATE payouts SET status_check_at = now() + interval '1 hour' WHERE id = ANY($1::uuid[])", [[ids.get('waiting'), ids.get('other')]]);
});
afterAll(async () => api?.close());

const put = (key: string, body: string | Buffer = '{"batchStatus":"completed"}') =>
  request(api.app).put(`/v1/callbacks/gsma/batch/${key}`).set('content-type', 'application/json').send(body);
const dueOf = async (receipt: string) =>
  (await api.database.pool.query<{ due: boolean | null }>('SELECT status_check_at <= now() AS due FROM payouts WHERE id = $1', [ids.get(receipt)])).rows[0]!.due;

describe("a GSMA provider batch's callback", () => {
  it('when it names a batch Tuma sent, then 204 and the status queries of its items still awaiting an answer are due now; nothing else moves', async () => {
    const states = async () => (await api.database.pool.query<{ state: string }>('SELECT state FROM payouts WHERE id = ANY($1::uuid[]) ORDER BY id', [[...ids.values()]])).rows;
    const before = await states();
    const res = await put(batchKey.toUpperCase(), '{"batchStatus":"completed","completedCount":2,"rejectionCount":0}');
    expect(res.status).toBe(204);
    expect([await dueOf('waiting'), await dueOf('other')]).toEqual([true, false]);
    // A paid payout is not asked again; no payout changed state.
    expect(await dueOf('paid')).not.toBe(true);
    expect(await states()).toEqual(before);
  });

  it.each([
    ['a key of no batch', randomUUID()],
    ['a key that is no UUID', 'batch-1'],
    ['SQL in the key', "x'%3B DROP TABLE gsma_batches%3B--"],
  ])('when it names %s, then 401 CALLBACK_UNAUTHENTICATED and nothing is asked', async (_what, key) => {
    await api.database.pool.query("UPDATE payouts SET status_check_at = now() + interval '1 hour' WHERE id = $1", [ids.get('waiting')]);
    const res = await put(key);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'CALLBACK_UNAUTHENTICATED' });
    expect(await dueOf('waiting')).toBe(false);
  });

  it('when its body is malformed, empty or hostile, then it is not read: the items are asked about all the same', async () => {
    for (const body of ['not json', '', '{"batchStatus":"completed","__proto__":{"x":1}}', Buffer.from([0xff, 0xfe, 0x00])]) {
      await api.database.pool.query("UPDATE payouts SET status_check_at = now() + interval '1 hour' WHERE id = $1", [ids.get('waiting')]);
      const res = await put(batchKey, body);
      expect(res.status).toBe(204);
      expect(await dueOf('waiting')).toBe(true);
    }
  });

  it('when its body has a member twice in one object, then 400 REQUEST_MALFORMED as on every JSON route, and nothing is asked', async () => {
    await api.database.pool.query("UPDATE payouts SET status_check_at = now() + interval '1 hour' WHERE id = $1", [ids.get('waiting')]);
    const res = await put(batchKey, '{"batchStatus":"completed","batchStatus":"rejected"}');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'REQUEST_MALFORMED' });
    expect(await dueOf('waiting')).toBe(false);
  });

  it('when its body is past the callback limit, then 413 and nothing is asked', async () => {
    await api.database.pool.query("UPDATE payouts SET status_check_at = now() + interval '1 hour' WHERE id = $1", [ids.get('waiting')]);
    const res = await put(batchKey, JSON.stringify({ pad: 'x'.repeat(70 * 1024) }));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(await dueOf('waiting')).toBe(false);
  });
});

describe('the callback URL a batch is created with', () => {
  it("when an item's callback URL is the gateway's, then the batch's is beside it, by batch key; otherwise none (polling)", () => {
    const key = randomUUID();
    expect(batchCallbackUrl('https://tuma.example.org/base/v1/callbacks/gsma/tok123', key)).toBe(`https://tuma.example.org/base/v1/callbacks/gsma/batch/${key}`);
    expect(batchCallbackUrl('', key)).toBeNull();
    expect(batchCallbackUrl('https://elsewhere.example/cb', key)).toBeNull();
  });
});
