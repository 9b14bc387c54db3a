// The console's own modules in Node, without a browser: the message catalogues (every string in
// English and French, the same placeholders in both, a sentence for every row error code, every
// known OAuth error and every sign-in failure) and the CSV reader's `repays` column, which mirrors
// `tuma batch build` and the server's row rules. The modules are the console's (bundled by Vite,
// type-checked by console/tsconfig.json), so they are loaded by path here.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { csvProblemCodes } from '../../src/cli/batch-cli.js';
import { auditActions } from '../../src/domain/audit.js';
import { errorCodes, rowErrorCodes } from '../../src/domain/errors.js';

const consoleSrc = path.join(fileURLToPath(new URL('../..', import.meta.url)), 'console', 'src');
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(consoleSrc, file)).href)) as T;

type Catalogues = Record<'en' | 'fr', Record<string, string>>;
interface I18nModule {
  locale: { value: 'en' | 'fr' };
  apiErrorText(code: string, serverMessage: string, detail: string | null): string;
  detailedErrorCodes: ReadonlySet<string>;
  serverDetailCharsMax: number;
  formatLocale(chosen: 'en' | 'fr', preferred: readonly string[]): string;
  dateTime(iso: string): string;
}
interface RowProblem { line: number; column: string; message: string; code?: string }
interface BatchModule {
  csvColumns: readonly string[];
  buildFromCsv(file: Uint8Array, header: { organisationId: string; rules: unknown; now: Date; batchId: string }):
    | { ok: true; batch: { bytes: Uint8Array; repaying: number; preview: { repays: string | null }[] } }
    | { ok: false; problems: RowProblem[] };
  readBatchFile(bytes: Uint8Array, rules: unknown): { ok: true; duplicates: number[]; byProvider: { provider: string; count: number; amount: string }[] } | { ok: false };
}

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)[,}]/g)].map((m) => m[1]).sort();

describe('the console\'s message catalogues', () => {
  let catalogues: Catalogues;
  beforeAll(async () => ({ catalogues } = await load<{ catalogues: Catalogues }>('i18n.ts')));

  it('when a string is in English, then it is in French too, with the same placeholders, and neither is empty', () => {
    expect(Object.keys(catalogues.fr).sort()).toEqual(Object.keys(catalogues.en).sort());
    const differing = Object.keys(catalogues.en).filter((k) => placeholders(catalogues.en[k]!).join() !== placeholders(catalogues.fr[k]!).join());
    const empty = Object.entries({ ...catalogues.en }).filter(([k, v]) => !v.trim() || !catalogues.fr[k]!.trim()).map(([k]) => k);
    expect({ differing, empty }).toEqual({ differing: [], empty: [] });
  });

  it('when the server names a row error or an audited action, the issuer a known OAuth error, or a sign-in fails, then the console has a sentence for it', () => {
    const wanted = [
      ...Object.keys(rowErrorCodes).map((c) => `row.${c}`),
      ...['access_denied', 'login_required', 'consent_required', 'interaction_required', 'invalid_request', 'server_error', 'temporarily_unavailable', 'other'].map((c) => `oidc.error.${c}`),
      ...['state', 'token', 'claims', 'discovery'].map((c) => `oidc.${c}`),
      ...auditActions.map((a) => `audit.actions.${a}`),
      ...['REJECTION_BY_MAKER', 'REJECTION_DUPLICATE', 'REJECTION_REASON_INVALID', 'PAYOUT_NOT_REQUEUEABLE'].map((c) => `error.${c}`),
    ];
    expect(wanted.filter((k) => !(k in catalogues.en))).toEqual([]);
  });

  it('when the API refuses anything, then the console says it in the reader\'s language: every code of contracts/error-codes.json has its sentence, the server\'s English words and the bare code are shown only for a code it does not know, and its detail only where the code needs it', async () => {
    const missing = Object.keys(errorCodes).filter((c) => !(`error.${c}` in catalogues.en));
    expect(missing).toEqual([]);
    const i18n = await load<I18nModule>('i18n.ts');
    try {
      i18n.locale.value = 'fr';
      expect(i18n.apiErrorText('APPROVAL_DUPLICATE', 'This key or this approver has approved the batch already.', 'the caller approved it')).toBe(catalogues.fr['error.APPROVAL_DUPLICATE']);
      expect(i18n.apiErrorText('NOT_FOUND', 'No such resource.', null)).toMatch(/^Introuvable/);
      // Where the detail is the point (what is wrong in the key, the file…), it follows the sentence.
      expect(i18n.apiErrorText('SIGNER_KEY_INVALID', 'The signer key registration is invalid; see detail.', 'a private member (d) is refused')).toBe(`${catalogues.fr['error.SIGNER_KEY_INVALID']} Le serveur précise : a private member (d) is refused`);
      expect(i18n.apiErrorText('SIGNER_KEY_INVALID', 'x', 'y'.repeat(600))).toHaveLength(catalogues.fr['error.SIGNER_KEY_INVALID']!.length + ' Le serveur précise : '.length + i18n.serverDetailCharsMax + 1);
      // A code of a newer server: its own message, and the code to ask about.
      expect(i18n.apiErrorText('SOMETHING_NEW', 'Something new.', null)).toBe('Something new. (SOMETHING_NEW)');
      for (const c of i18n.detailedErrorCodes) expect(`error.${c}` in catalogues.en).toBe(true);
    } finally {
      i18n.locale.value = 'en';
    }
  });
});

describe('the console\'s figures and dates', () => {
  it('when the reader\'s browser prefers a region of the chosen language, then figures and dates are in its form, not en-US\'s', async () => {
    const i18n = await load<I18nModule>('i18n.ts');
    expect(i18n.formatLocale('en', ['en-GB', 'en'])).toBe('en-GB');
    expect(i18n.formatLocale('en', ['sw-KE', 'en-KE'])).toBe('en-KE');
    expect(i18n.formatLocale('fr', ['en-GB', 'fr-SN'])).toBe('fr-SN');
    // No region of the chosen language, or a tag Intl refuses: the language itself.
    expect(i18n.formatLocale('fr', ['en-GB'])).toBe('fr');
    expect(i18n.formatLocale('en', ['en-', 'sw'])).toBe('en');
    expect(i18n.formatLocale('en', [])).toBe('en');
    const at = '2026-12-07T11:41:33Z';
    expect(new Intl.DateTimeFormat(i18n.formatLocale('en', ['en-GB']), { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(at))).toBe('7 Dec 2026');
  });
});

describe('the console\'s CSV reader: the repays column', () => {
  let batch: BatchModule;
  beforeAll(async () => (batch = await load<BatchModule>('batch.ts')));
  const rules = { programmeId: 'prog-1', currency: 'KES', providers: ['mpesa'], policy: { providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'reject_batch' } };
  const build = (csv: string) => batch.buildFromCsv(new TextEncoder().encode(csv), { organisationId: 'org-1', rules, now: new Date(), batchId: randomUUID() });

  it('when the console reads a CSV, then it reads the columns `tuma batch build` reads, repays included', () => {
    // The CLI names its list in CSV_COLUMN_UNKNOWN's sentence (csvColumns in src/cli/batch-cli.ts).
    const named = /the columns are ([a-z, ]+)\./.exec(csvProblemCodes.CSV_COLUMN_UNKNOWN)![1]!.split(', ');
    expect(batch.csvColumns).toEqual(named);
    expect(named).toContain('repays');
  });

  it('when a row names a payout in repays, then the document carries it as written and the summary counts it', () => {
    const payout = randomUUID();
    const built = build(`ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,${payout}\nr-2,+254712345679,50,mpesa,\n`);
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const doc = JSON.parse(new TextDecoder().decode(built.batch.bytes)) as { payouts: Record<string, string>[] };
    expect(doc.payouts.map((p) => p.repays ?? null)).toEqual([payout, null]);
    expect([built.batch.repaying, built.batch.preview.map((p) => p.repays)]).toEqual([1, [payout, null]]);
  });

  it.each([
    ['an id in upper case', randomUUID().toUpperCase(), 'FIELD_INVALID'],
    ['no UUID at all', 'x', 'FIELD_INVALID'],
    ['markup', '<img src=x onerror=alert(1)>', 'FIELD_INVALID'],
  ])('when repays is %s, then the row is refused by line and column as the server would (%s)', (_what, value, code) => {
    const built = build(`ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,"${value}"\n`);
    expect(built.ok ? [] : built.problems.map((p) => [p.line, p.column, p.code])).toEqual([[2, 'repays', code]]);
  });

  it('when two rows pay the same payout again, then the second is refused REPAY_DUPLICATE', () => {
    const payout = randomUUID();
    const built = build(`ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,${payout}\nr-2,+254712345679,100,mpesa,${payout}\n`);
    expect(built.ok ? [] : built.problems.map((p) => [p.line, p.column, p.code])).toEqual([[3, 'repays', 'REPAY_DUPLICATE']]);
  });
});

describe('the approver\'s summary of a batch document', () => {
  it('when a number is paid the same amount twice, then the approver is shown the flagged row, by its number in the document, beside the amounts per provider', async () => {
    const batch = await load<BatchModule>('batch.ts');
    const rules = { programmeId: 'prog-1', currency: 'KES', providers: ['mpesa'], policy: { providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'skip_rows' } };
    const payouts = [
      { ref: 'a', provider: 'mpesa', msisdn: '+254712000001', amount: '100.00' },
      { ref: 'b', provider: 'mpesa', msisdn: '+254712000002', amount: '100.00' },
      { ref: 'c', provider: 'mpesa', msisdn: '+254712000001', amount: '100.00' },
    ];
    const now = new Date();
    const document = { batchId: randomUUID(), organisationId: 'org-1', programmeId: 'prog-1', currency: 'KES', createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString(), declared: { count: 3, total: '300.00' }, payouts };
    const read = batch.readBatchFile(new TextEncoder().encode(JSON.stringify(document)), rules);
    expect(read).toMatchObject({ ok: true, duplicates: [3], byProvider: [{ provider: 'mpesa', count: 3, amount: '300.00' }] });
    const clean = batch.readBatchFile(new TextEncoder().encode(JSON.stringify({ ...document, declared: { count: 2, total: '200.00' }, payouts: payouts.slice(0, 2) })), rules);
    expect(clean).toMatchObject({ ok: true, duplicates: [] });
  });
});
