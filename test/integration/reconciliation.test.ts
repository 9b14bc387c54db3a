// Reconciliation of an M-Pesa organisation portal statement (issue #14) against the real
// PostgreSQL: every class found with exact counts and amounts, refusals that store nothing, and an
// idempotent re-import. Payouts are written straight into the tables (the states and provider
// references a month of dispatch would leave), so each test owns exactly the ledger it reconciles.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { importStatement, openStatementFileChunk, statementFileChunkBytes, type ImportStatementInput } from '../../src/application/reconcile.js';
import type { Persistence } from '../../src/application/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';
import { insertPayouts as insertLedgerPayouts, type LedgerPayout } from '../support/reconciliation-ledger.js';

const fixture = new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url);
/** The fixture's period, 1-31 May 2026 in East Africa Time, as [from, to) instants. */
const may = { from: new Date('2026-04-30T21:00:00Z'), to: new Date('2026-05-31T21:00:00Z') };

let database: TestDatabase;
let persistence: Persistence;
let vault: AesGcmVault;
let fixtureText: string;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
  vault = new AesGcmVault(database.db, randomBytes(32));
  fixtureText = await readFile(fixture, 'utf8');
});
afterAll(async () => {
  await vault?.close();
  await database?.drop();
});

const insertPayouts = (s: Scenario, payouts: readonly LedgerPayout[]) => insertLedgerPayouts(database.pool, s, payouts);

const caller = (s: Scenario) => ({ organisationId: s.organisationId, subject: 'finance-1' });

function input(s: Scenario, accountId: string, bytes: string | Buffer, more: Partial<ImportStatementInput> = {}): ImportStatementInput {
  return {
    source: Readable.from([Buffer.from(bytes)]), accountId, currency: 'KES', format: 'mpesa-org-portal-csv@1', period: may, caller: caller(s), ...more,
  };
}

const deps = () => ({ store: statementStore(database.pool), vault });

/** `bytes` in pieces of `size`, as an upload arrives. */
function splitEvery(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return pieces;
}

async function stored(accountId: string): Promise<{ statements: number; lines: number; items: number; files: number; staging: number }> {
  const { rows } = await database.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM statements WHERE account_id = $1)::text AS statements,
            (SELECT count(*) FROM statement_lines WHERE account_id = $1)::text AS lines,
            (SELECT count(*) FROM reconciliation_items i JOIN statements s ON s.id = i.statement_id WHERE s.account_id = $1)::text AS items,
            (SELECT count(*) FROM statement_files f JOIN statements s ON s.id = f.statement_id WHERE s.account_id = $1)::text AS files,
            (SELECT count(*) FROM statement_staging_lines)::text AS staging`,
    [accountId],
  );
  const r = rows[0]!;
  return { statements: Number(r.statements), lines: Number(r.lines), items: Number(r.items), files: Number(r.files), staging: Number(r.staging) };
}

/** A fresh account id, so each test reconciles a ledger of its own. */
const newAccount = () => `mpesa-ke-${randomBytes(3).toString('hex')}`;

/** The fixture's ledger: one payout per class the statement exercises, on `accountId`. */
async function everyClassLedger(accountId: string): Promise<{ s: Scenario; ids: Map<string, string> }> {
  const s = await setUpProgramme(persistence, 0n);
  const ids = await insertPayouts(s, [
    { receipt: 'RCP0001', amountMinor: 10000n, state: 'paid', accountId },
    { receipt: 'RCP0002', amountMinor: 25000n, state: 'paid', accountId },
    { receipt: 'RCP0003', amountMinor: 10000n, state: 'paid', accountId },
    { receipt: 'RCP0004', amountMinor: 30000n, state: 'paid', accountId },
    { receipt: 'RCP0005', amountMinor: 5000n, state: 'failed', accountId },
    { receipt: 'RCP0006', amountMinor: 7500n, state: 'paid', accountId },
    { receipt: 'RCP0007', amountMinor: 8000n, state: 'paid', accountId, paidAt: new Date('2026-05-10T09:00:00Z') },
    { receipt: 'RCP0008', amountMinor: 9000n, state: 'paid', accountId, paidAt: new Date('2026-04-10T09:00:00Z') },
    { receipt: 'RCP0009', amountMinor: 6000n, state: 'paid', accountId: `${accountId}-other` },
    { receipt: 'RCP0010', amountMinor: 3000n, state: 'failed', accountId },
  ]);
  return { s, ids };
}

describe('importing an M-Pesa organisation portal statement', () => {
  test('when a statement holds a line of every class, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const accountId = newAccount();
    const { s, ids } = await everyClassLedger(accountId);

    const result = await importStatement(deps(), input(s, accountId, fixtureText));

    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const r = result.value;
    expect(r.replayed).toBe(false);
    expect([r.linesTotal, r.linesImported, r.linesRefused]).toEqual([13, 13, 0]);
    expect(r.openingBalanceMinor).toBe(500_000_000n);
    expect(r.closingBalanceMinor).toBe(500_922_500n);
    expect(r.counts).toEqual({
      matched: { count: 3, statementMinor: 38000n, ledgerMinor: 38000n },
      amount_over: { count: 1, statementMinor: 12000n, ledgerMinor: 10000n },
      amount_under: { count: 1, statementMinor: 29000n, ledgerMinor: 30000n },
      paid_not_in_ledger: { count: 1, statementMinor: 5000n, ledgerMinor: 5000n },
      status_mismatch: { count: 1, statementMinor: 7500n, ledgerMinor: 7500n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 8000n },
      duplicate_at_provider: { count: 1, statementMinor: 10000n, ledgerMinor: 0n },
      unknown_reference: { count: 2, statementMinor: 10000n, ledgerMinor: 0n },
      // The charge of RCP0001 (15.00) against a ledger that recorded no fee for it.
      fee_mismatch: { count: 1, statementMinor: 1500n, ledgerMinor: 0n },
      // The reversal of RCP0002, which the ledger still counts as paid: the money came back.
      late_reversal: { count: 1, statementMinor: -25000n, ledgerMinor: 25000n },
      non_payout: { count: 1, statementMinor: -1_000_000n, ledgerMinor: 0n },
    });
    // The file's balances: opening + every completed line = closing, and the running balance is continuous oldest first.
    expect(r.balances).toEqual({ linesNetMinor: 922_500n, total: { expectedClosingMinor: 500_922_500n, closingMinor: 500_922_500n, ok: true }, order: 'oldest-first', runningBreaks: 0, breaks: [] });
    expect([r.version, r.previousId, r.diff]).toEqual([1, null, null]);
    // Which line and which payout got which class: the file's lines are 8 to 20.
    const { rows } = await database.pool.query<{ line_no: number | null; payout_id: string | null; class: string }>(
      'SELECT line_no, payout_id, class FROM reconciliation_items WHERE statement_id = $1 ORDER BY line_no NULLS LAST', [r.statementId]);
    expect(rows.map((i) => [i.line_no, i.class])).toEqual([
      [8, 'matched'], [9, 'fee_mismatch'], [10, 'matched'], [11, 'amount_over'], [12, 'amount_under'], [13, 'paid_not_in_ledger'],
      [14, 'status_mismatch'], [15, 'unknown_reference'], [16, 'unknown_reference'], [17, 'duplicate_at_provider'], [18, 'non_payout'],
      [19, 'late_reversal'], [20, 'matched'], [null, 'missing_at_provider'],
    ]);
    expect(rows.at(-1)!.payout_id).toBe(ids.get('RCP0007'));
    // The charge and the reversal are linked to their payouts.
    expect([rows[1]!.payout_id, rows[11]!.payout_id]).toEqual([ids.get('RCP0001'), ids.get('RCP0002')]);
    expect(await stored(accountId)).toEqual({ statements: 1, lines: 13, items: 14, files: 1, staging: 0 });
  });

  test('when the statement is stored, then no line table holds a name or a number from it, and the original opens from its sealed chunks', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const result = await importStatement(deps(), input(s, accountId, fixtureText));
    if (!result.ok) throw new Error(JSON.stringify(result.error));

    const { rows } = await database.pool.query<{ t: string }>(
      `SELECT l::text AS t FROM statement_lines l WHERE statement_id = $1 UNION ALL SELECT i::text FROM reconciliation_items i WHERE statement_id = $1
       UNION ALL SELECT s::text FROM statements s WHERE id = $1`, [result.value.statementId]);
    const everything = rows.map((r) => r.t).join('\n');
    for (const clear of ['AMINA', 'JOHN K', '2547', 'UNHCR KENYA']) expect(everything).not.toContain(clear);
    const chunks = await database.pool.query<{ sealed: Buffer }>('SELECT sealed FROM statement_files WHERE statement_id = $1 ORDER BY chunk_no', [result.value.statementId]);
    expect(Buffer.concat(chunks.rows.map((c) => c.sealed)).includes(Buffer.from('AMINA'))).toBe(false);
    const opened = await Promise.all(chunks.rows.map((c, i) => openStatementFileChunk(vault, result.value.statementId, i, 'deflate', c.sealed)));
    expect(Buffer.concat(opened).toString('utf8')).toBe(fixtureText);
  });

  test('when a statement spans several chunks, then each is compressed then sealed, in order, and the original opens whole from them', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    // The fixture's lines again and again under new receipts: ~2.6 MiB, three chunks, the last one short.
    const [head, body] = [fixtureText.slice(0, fixtureText.indexOf('Receipt No.')), fixtureText.slice(fixtureText.indexOf('Receipt No.'))];
    const [columns, ...lines] = body.split('\r\n').filter((l) => l.length > 0);
    const many: string[] = [];
    for (let n = 0; many.join('\r\n').length < 2.6 * statementFileChunkBytes; n += 1) many.push(...lines.map((l) => l.replace(/^[A-Z0-9]+,/, (r) => `X${n}${r}`)));
    const text = `${head}${columns}\r\n${many.join('\r\n')}\r\n`;
    const result = await importStatement(deps(), { ...input(s, accountId, text), source: Readable.from(splitEvery(Buffer.from(text), 64 * 1024)) });
    if (!result.ok) throw new Error(JSON.stringify(result.error));

    const { rows } = await database.pool.query<{ chunk_no: number; sealed: Buffer; file_encoding: 'deflate' }>(
      'SELECT f.chunk_no, f.sealed, s.file_encoding FROM statement_files f JOIN statements s ON s.id = f.statement_id WHERE f.statement_id = $1 ORDER BY f.chunk_no',
      [result.value.statementId]);
    expect(rows.map((r) => r.chunk_no)).toEqual([0, 1, 2]);
    expect(rows.every((r) => r.file_encoding === 'deflate')).toBe(true);
    const opened = await Promise.all(rows.map((r) => openStatementFileChunk(vault, result.value.statementId, r.chunk_no, r.file_encoding, r.sealed)));
    expect(opened.map((o) => o.length)).toEqual([statementFileChunkBytes, statementFileChunkBytes, Buffer.byteLength(text) - 2 * statementFileChunkBytes]);
    expect(Buffer.concat(opened).equals(Buffer.from(text))).toBe(true);
    // Compressed before sealing: the stored bytes are a fraction of the file.
    expect(rows.reduce((n, r) => n + r.sealed.length, 0)).toBeLessThan(Buffer.byteLength(text) / 3);
    // A chunk opened as another chunk, or read as if stored as it came, does not open.
    await expect(openStatementFileChunk(vault, result.value.statementId, 1, 'deflate', rows[0]!.sealed)).rejects.toThrow();
    expect((await openStatementFileChunk(vault, result.value.statementId, 0, 'identity', rows[0]!.sealed)).equals(opened[0]!)).toBe(false);
  });

  test('when the same bytes are imported again, then the same reconciliation is answered and nothing new is stored', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const first = await importStatement(deps(), input(s, accountId, fixtureText));
    const again = await importStatement(deps(), input(s, accountId, fixtureText));

    if (!first.ok || !again.ok) throw new Error('import refused');
    expect(again.value.replayed).toBe(true);
    const { replayed: _a, ...firstRecord } = first.value;
    const { replayed: _b, ...againRecord } = again.value;
    expect(againRecord).toEqual(firstRecord);
    expect(await stored(accountId)).toEqual({ statements: 1, lines: 13, items: 14, files: 1, staging: 0 });
  });

  test('when other bytes come for exactly the same period, then they are its next version, with a diff against the previous one', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const first = await importStatement(deps(), input(s, accountId, fixtureText));
    if (!first.ok) throw new Error(JSON.stringify(first.error));

    // The provider corrected its export: RCP0003 now reads 100.00 (its balances follow), RCPX001 is gone.
    const corrected = fixtureText
      .replace(/^RCPX001,.*\r?\n/m, '')
      .replace('Completed,,-120.00,"4,999,515.00","4,999,515.00"', 'Completed,,-100.00,"4,999,535.00","4,999,535.00"');
    const second = await importStatement(deps(), input(s, accountId, corrected));

    if (!second.ok) throw new Error(JSON.stringify(second.error));
    expect([second.value.version, second.value.previousId]).toEqual([2, first.value.statementId]);
    expect(second.value.diff).toEqual({ previousId: first.value.statementId, added: 0, removed: 1, changed: 1 });
    // Its lines are no duplicates of the first version's; RCP0003 now matches.
    expect(second.value.counts.duplicate_at_provider?.count).toBe(1);
    expect(second.value.counts.amount_over).toBeUndefined();
    // Its balance checks see the corrected lines against the same header: the running balance breaks where the lines changed.
    expect(second.value.balances.total?.ok).toBe(false);
    expect(second.value.balances.runningBreaks).toBeGreaterThan(0);
    // The first version stays as it was; the same bytes again answer it.
    const again = await importStatement(deps(), input(s, accountId, fixtureText));
    expect(again.ok && [again.value.replayed, again.value.statementId]).toEqual([true, first.value.statementId]);
  });

  test('when a file covers part of a period already imported, then it is refused and nothing is stored', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    expect((await importStatement(deps(), input(s, accountId, fixtureText))).ok).toBe(true);

    const shifted = fixtureText.replace('From 01-05-2026 00:00:00 To 31-05-2026 23:59:59', 'From 15-05-2026 00:00:00 To 14-06-2026 23:59:59');
    const result = await importStatement(deps(), { ...input(s, accountId, shifted), period: { from: new Date('2026-05-14T21:00:00Z'), to: new Date('2026-06-14T21:00:00Z') } });

    expect(result.ok ? null : result.error.code).toBe('STATEMENT_PERIOD_OVERLAP');
    expect(await stored(accountId)).toEqual({ statements: 1, lines: 13, items: 14, files: 1, staging: 0 });
  });
});

describe('imports racing each other', () => {
  test('when the same bytes are imported twice at once, then one stores the statement and the other answers it again', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const [a, b] = await Promise.all([importStatement(deps(), input(s, accountId, fixtureText)), importStatement(deps(), input(s, accountId, fixtureText))]);
    if (!a.ok || !b.ok) throw new Error('import refused');
    expect([a.value.replayed, b.value.replayed].sort()).toEqual([false, true]);
    expect(a.value.statementId).toBe(b.value.statementId);
    expect(await stored(accountId)).toEqual({ statements: 1, lines: 13, items: 14, files: 1, staging: 0 });
  });

  test('when two files of one period are imported at once, then one is version 1 and the other version 2', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const other = fixtureText.replace('Operator:,finance.ke', 'Operator:,finance.ke.2');
    const results = await Promise.all([importStatement(deps(), input(s, accountId, fixtureText)), importStatement(deps(), input(s, accountId, other))]);
    expect(results.map((r) => (r.ok ? r.value.version : r.error.code)).sort()).toEqual([1, 2]);
    expect(await stored(accountId)).toEqual({ statements: 2, lines: 26, items: 28, files: 2, staging: 0 });
  });

  test('when the same bytes come for another account, then they are that account\'s statement, matched against that account\'s payouts only', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    expect((await importStatement(deps(), input(s, accountId, fixtureText))).ok).toBe(true);
    const result = await importStatement(deps(), input(s, `${accountId}-other`, fixtureText));
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    // Only RCP0009 went through the other account: every other payout line is unknown there.
    expect(result.value.counts.matched).toEqual({ count: 1, statementMinor: 6000n, ledgerMinor: 6000n });
    expect(result.value.counts.unknown_reference?.count).toBe(8);
  });
});

describe('refusing a statement, with nothing stored', () => {
  /** The fixture with line `lineNo` (1-based, in the file) changed by `change`. */
  const withLine = (lineNo: number, change: (line: string) => string): string =>
    fixtureText.split('\r\n').map((l, i) => (i === lineNo - 1 ? change(l) : l)).join('\r\n');

  async function refused(text: string | Buffer, more: Partial<ImportStatementInput> = {}) {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const result = await importStatement(deps(), input(s, accountId, text, more));
    expect(await stored(accountId)).toEqual({ statements: 0, lines: 0, items: 0, files: 0, staging: 0 });
    if (result.ok) throw new Error('the import was not refused');
    return result.error;
  }

  test('when amounts are malformed, then every bad line is named by line, column and problem, and the cell is not echoed', async () => {
    let text = withLine(10, (l) => l.replace('-250.00', '-250.0O'));
    text = text.split('\r\n').map((l, i) => (i === 11 ? l.replace(',Completed,', ',Done,') : l)).join('\r\n');
    const error = await refused(text);
    expect(error.code).toBe('STATEMENT_LINES_INVALID');
    expect(error.badLines).toBe(2);
    expect(error.lines).toEqual([
      { line: 10, column: 'Withdrawn', problem: 'not an amount with exactly 2 decimals' },
      { line: 12, column: 'Transaction Status', problem: 'not a status of the format' },
    ]);
  });

  test('when an amount has more decimals than the currency\'s scale, then the line is refused, never rounded', async () => {
    const error = await refused(withLine(8, (l) => l.replace('-100.00', '-100.005')));
    expect(error.lines).toEqual([{ line: 8, column: 'Withdrawn', problem: 'not an amount with exactly 2 decimals' }]);
  });

  test('when a time is not a real day, or outside the period, then the line is named', async () => {
    let text = withLine(8, (l) => l.replace('02-05-2026 09:15:02', '31-02-2026 09:15:02'));
    text = text.split('\r\n').map((l, i) => (i === 8 ? l.replace('02-05-2026 09:15:02', '02-06-2026 09:15:02') : l)).join('\r\n');
    const error = await refused(text);
    expect(error.lines).toEqual([
      { line: 8, column: 'Completion Time', problem: 'not a time DD-MM-YYYY HH:MM:SS' },
      { line: 9, column: 'Completion Time', problem: 'outside the statement\'s period' },
    ]);
  });

  test('when a line has the wrong number of columns, then the file is refused naming that line', async () => {
    const error = await refused(withLine(11, (l) => `${l},extra`));
    expect(error.code).toBe('STATEMENT_LINES_INVALID');
    expect(error.lines).toEqual([{ line: 11, column: '*', problem: 'not CSV with exactly 13 columns' }]);
  });

  test('when a line\'s bytes are not UTF-8, or hold a NUL, then the file is refused naming that line, in whichever pieces it arrives', async () => {
    const [before, after] = withLine(10, (l) => l.replace('JOHN K', 'JOHN \u0001')).split('\u0001') as [string, string];
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x00]]) {
      const bytes = Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
      for (const source of [[bytes], splitEvery(bytes, 5)]) {
        const error = await refused(bytes, { source: Readable.from(source) });
        expect({ bad, error }).toEqual({ bad, error: { code: 'STATEMENT_LINES_INVALID', detail: 'a line is not CSV of the format\'s columns', badLines: 1, lines: [{ line: 10, column: '*', problem: 'not valid UTF-8' }] } });
      }
    }
  });

  test('when a quoted cell holds a line break or a doubled quote, then the line is read whole, and bad lines after it are named as before', async () => {
    let text = withLine(9, (l) => l.replace('B2C Payment Charge', '"B2C ""Payment""\r\nCharge"'));
    // The bad line is the file's 13th line of text, and its 12th line (lines are counted as COPY numbered its rows).
    text = text.split('\r\n').map((l, i) => (i === 12 ? l.replace(',Completed,', ',Done,') : l)).join('\r\n');
    const error = await refused(text);
    expect(error).toEqual({ code: 'STATEMENT_LINES_INVALID', detail: '1 of 13 lines are invalid', badLines: 1, lines: [{ line: 12, column: 'Transaction Status', problem: 'not a status of the format' }] });
  });

  test('when a line after a quoted line break has the wrong number of columns, a line break outside quotes is not the file\'s, or a quote does not close, then the file is refused at the line COPY named', async () => {
    const broken = withLine(9, (l) => l.replace('B2C Payment Charge', '"B2C Payment\r\nCharge"'));
    const extra = broken.split('\r\n').map((l, i) => (i === 11 ? `${l},extra` : l)).join('\r\n');
    expect((await refused(extra)).lines).toEqual([{ line: 12, column: '*', problem: 'not CSV with exactly 13 columns' }]);
    expect((await refused(withLine(10, (l) => l.replace('JOHN K', 'JOHN\nK')))).lines).toEqual([{ line: 10, column: '*', problem: 'not CSV with exactly 13 columns' }]);
    expect((await refused(withLine(10, (l) => l.replace('JOHN K,', '"JOHN K,')))).lines).toEqual([{ line: 21, column: '*', problem: 'not CSV with exactly 13 columns' }]);
  });

  test('when the file is larger than the maximum, then it is refused before it is read whole', async () => {
    const error = await refused(fixtureText, { options: { sizeBytesMax: 1024 } });
    expect(error.code).toBe('STATEMENT_TOO_LARGE');
  });

  test('when the header block declares another period than the one given, then it is refused', async () => {
    const error = await refused(fixtureText, { period: { from: may.from, to: new Date('2026-06-30T21:00:00Z') } });
    expect(error.code).toBe('STATEMENT_PERIOD_MISMATCH');
  });

  test('when the column-header line is not the format\'s, then it is refused', async () => {
    const error = await refused(fixtureText.replace('Reason Type,', 'Reason,'));
    expect(error.code).toBe('STATEMENT_HEADER_INVALID');
  });

  test('when the caller asks for the good lines of a file with a bad line, then the good lines are reconciled and the bad one is listed', async () => {
    const accountId = newAccount();
    const { s } = await everyClassLedger(accountId);
    const text = withLine(11, (l) => l.replace('-120.00', '120'));
    const result = await importStatement(deps(), input(s, accountId, text, { options: { importGoodLines: true } }));
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect([result.value.linesTotal, result.value.linesImported, result.value.linesRefused]).toEqual([13, 12, 1]);
    expect(result.value.refusedLines).toEqual([{ line: 11, column: 'Withdrawn', problem: 'not an amount with exactly 2 decimals' }]);
    expect(result.value.counts.amount_over).toBeUndefined();
    // RCP0003 has no line now: the ledger's payout of the period is missing at the provider.
    expect(result.value.counts.missing_at_provider).toEqual({ count: 2, statementMinor: 0n, ledgerMinor: 18000n });
    expect(await stored(accountId)).toMatchObject({ statements: 1, lines: 12, items: 14 });
  });
});
