// `tuma callbacks orphans`: the callbacks kept for no payout Tuma knows, for finance and operators
// (issue #5 item 3). Orphans come in through the real Airtel callback route; the listing shows
// what identifies each, oldest first, page by page, and never the body. Real PostgreSQL.
import { pino } from 'pino';
import request from 'supertest';
import { orphansListMax, runCallbacksCli } from '../../src/cli/callbacks-cli.js';
import type { Config } from '../../src/config/config.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';
import { testConfig } from '../support/runtime.js';

let api: TestApi;
let config: Config;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  api = await startTestApi({ callbackAuthOf: () => ({ mode: 'status-query', hmacSecret: null }) });
  config = await testConfig(api.database.url, 'in-process');
});
afterAll(async () => api?.close());

const airtelBody = (id: string) => JSON.stringify({ transaction: { id, message: 'Paid ZMW 100 to Amina Test 0971000111', status_code: 'TS', airtel_money_id: 'MP210603.1234.L06941' } });

async function cli(argv: readonly string[], cfg: Config = config): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCallbacksCli(argv, cfg, silent, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

describe('tuma callbacks orphans', () => {
  const orphanIds = ['ORPHAN0000000000000000000000000A', 'ORPHAN0000000000000000000000000B', 'ORPHAN0000000000000000000000000C'];

  beforeAll(async () => {
    for (const id of orphanIds) expect((await request(api.app).post('/v1/callbacks/airtel').set('content-type', 'application/json').send(airtelBody(id))).status).toBe(200);
    // A callback that does belong to a payout is no orphan.
    const s = await setUpProgramme(api.persistence, 1_000_00n);
    const document = batchDocument(s, [{ ref: 'known', provider: 'mpesa', msisdn: '+254712000999', amount: '10.00' }]);
    expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
    expect(await api.persistence.read.callbacks.insert({ provider: 'mpesa', scope: 't:test', authenticated: true, dedupeKey: 'known-callback', payoutId: payoutIdOf(document.batchId, 'known'), rawBodyEnc: Buffer.from('sealed') })).toBe(true);
  });

  it('when orphans were kept, then each is one JSON line, oldest first, with provider, key and time, and the last line says there is no more', async () => {
    const { code, out, err } = await cli(['orphans']);
    expect({ code, err }).toEqual({ code: 0, err: [] });
    const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(0, -1).map((l) => l.dedupeKey)).toEqual(orphanIds.map((id) => `txid:${id}:TS`));
    for (const l of lines.slice(0, -1)) {
      expect(Object.keys(l).sort()).toEqual(['dedupeKey', 'id', 'provider', 'receivedAt']);
      expect(l).toMatchObject({ provider: 'airtel', id: expect.stringMatching(/^\d+$/), receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    }
    expect(lines.at(-1)).toEqual({ next: null });
    // Never the body: it names the person paid.
    expect(out.join('\n')).not.toMatch(/Amina|0971000111|known-callback/);
  });

  it('when listed a page at a time, then the pages follow on from each other and cover every orphan once', async () => {
    const first = await cli(['orphans', '--limit', '2']);
    expect(first.code).toBe(0);
    const page1 = first.out.map((l) => JSON.parse(l) as { id?: string; dedupeKey?: string; next?: string | null });
    expect(page1.slice(0, 2).map((l) => l.dedupeKey)).toEqual([`txid:${orphanIds[0]}:TS`, `txid:${orphanIds[1]}:TS`]);
    expect(page1[2]).toEqual({ next: `--after ${page1[1]!.id}` });
    const second = await cli(['orphans', '--limit', '2', '--after', page1[1]!.id!]);
    const page2 = second.out.map((l) => JSON.parse(l) as { dedupeKey?: string; next?: string | null });
    expect(page2).toEqual([expect.objectContaining({ dedupeKey: `txid:${orphanIds[2]}:TS` }), { next: null }]);
  });

  it.each([
    ['no subcommand', []],
    ['another subcommand', ['delete']],
    ['two subcommands', ['orphans', 'orphans']],
    ['an unknown option', ['orphans', '--all']],
    ['a cursor that is not a number', ['orphans', '--after', "1 OR 1=1"]],
    ['a negative cursor', ['orphans', '--after', '-1']],
    ['a cursor past bigint', ['orphans', '--after', '9223372036854775808']],
    ['a limit of 0', ['orphans', '--limit', '0']],
    ['a limit past the maximum', ['orphans', '--limit', String(orphansListMax + 1)]],
    ['a fractional limit', ['orphans', '--limit', '1.5']],
    ['an option without its value', ['orphans', '--limit']],
  ])('when it gets %s, then it refuses with its usage, exit 2, and prints nothing', async (_name, argv) => {
    const { code, out, err } = await cli(argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/usage: tuma callbacks orphans/);
  });

  it('when there is no DATABASE_URL, then it says so and exits 78 (configuration)', async () => {
    const { code, err } = await cli(['orphans'], { ...config, database: { ...config.database, url: null } } as Config);
    expect({ code, err }).toEqual({ code: 78, err: ['tuma callbacks orphans: needs DATABASE_URL'] });
  });
});
