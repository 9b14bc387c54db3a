// The camt.053 reader: a bank's ISO 20022 statement in, the entries CSV of camt053V1 out, as a stream.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isColumnHeader, parseStatementHeader, splitCsvLine } from '../../src/domain/reconciliation.js';
import { camt053V1, mt940V1 } from '../../src/domain/statement-formats.js';
import { createCamt053Reader } from '../../src/adapters/statement-readers/camt053-reader.js';
import { StatementReadError } from '../../src/adapters/statement-readers/limits.js';
import { clearKenyanNumber } from '../support/privacy.js';

const fixture = readFileSync(join(import.meta.dirname, '../fixtures/statements/bank-camt053.xml'));

async function read(reader: Transform, chunks: readonly Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), reader, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out).toString('utf8');
}

const oneByOne = (b: Buffer): Buffer[] => Array.from(b, (byte) => Buffer.from([byte]));

/** Codes of the standard a problem names as what was expected: not the file's content. */
const codesProblemsMayName: ReadonlySet<string> = new Set(['CRDT', 'DBIT', 'OPBD', 'PRCD', 'CLBD', 'true', 'false']);

/** The refusal of `xml`: a StatementReadError whose words quote nothing of the file but element names. */
async function refusal(xml: string | Buffer, limits?: Parameters<typeof createCamt053Reader>[1]): Promise<StatementReadError> {
  const bytes = typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml;
  const error = await read(createCamt053Reader(camt053V1, limits), [bytes]).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(StatementReadError);
  const problem = (error as StatementReadError).problem;
  const values = bytes.toString('latin1').replace(/<[^>]*>/g, ' ').match(/[A-Za-z0-9]{4,}/g) ?? [];
  for (const value of values.filter((v) => !codesProblemsMayName.has(v))) expect(problem).not.toContain(value);
  return error as StatementReadError;
}

/** A camt.053 document of `version` around `statement` (a Stmt's children after Id). */
const document = (statement: string, version = '02'): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.${version}"><BkToCstmrStmt>`
  + `<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-06-03T06:00:00Z</CreDtTm></GrpHdr><Stmt><Id>S1</Id>${statement}</Stmt></BkToCstmrStmt></Document>`;

const balance = (type: string, amount: string, side = 'CRDT', date = '<Dt>2026-06-01</Dt>', ccy = 'KES'): string =>
  `<Bal><Tp><CdOrPrtry><Cd>${type}</Cd></CdOrPrtry></Tp><Amt Ccy="${ccy}">${amount}</Amt><CdtDbtInd>${side}</CdtDbtInd><Dt>${date}</Dt></Bal>`;

const header = (options: { period?: string; account?: string } = {}): string =>
  (options.period ?? '<FrToDt><FrDtTm>2026-06-01T00:00:00Z</FrDtTm><ToDtTm>2026-06-01T23:59:59Z</ToDtTm></FrToDt>')
  + (options.account ?? '<Acct><Id><IBAN>KE00KCBL0000009876543210</IBAN></Id><Ccy>KES</Ccy><Ownr><Nm>NRC KENYA</Nm></Ownr></Acct>')
  + balance('OPBD', '1000.00') + balance('CLBD', '900.00');

/** One entry: its parts in schema order, each replaceable. */
const entry = (p: { amt?: string; side?: string; rvsl?: string; sts?: string; booked?: string; refs?: string; btc?: string; details?: string } = {}): string =>
  `<Ntry>${p.amt ?? '<Amt Ccy="KES">100.00</Amt>'}<CdtDbtInd>${p.side ?? 'DBIT'}</CdtDbtInd>${p.rvsl ?? ''}${p.sts ?? '<Sts>BOOK</Sts>'}`
  + `${p.booked ?? '<BookgDt><Dt>2026-06-01</Dt></BookgDt>'}<ValDt><Dt>2026-06-01</Dt></ValDt>${p.refs ?? '<AcctSvcrRef>BNK0001</AcctSvcrRef>'}`
  + `${p.btc ?? ''}${p.details ?? '<NtryDtls><TxDtls><Refs><EndToEndId>TUMA-AAA111</EndToEndId></Refs><RltdPties><Cdtr><Nm>WANJIRU AKINYI</Nm></Cdtr></RltdPties></TxDtls></NtryDtls>'}</Ntry>`;

const linesOf = async (xml: string): Promise<string[]> => (await read(createCamt053Reader(camt053V1), [Buffer.from(xml)])).split('\r\n');

const expected = [
  'Account,1234567890123',
  'Currency,KES',
  'Time Period,From 2026-05-31 21:00:00 To 2026-06-02 20:59:59',
  'Opening Balance,5000000.00',
  'Closing Balance,5749850.50',
  'Entry Reference,Booked At,Status,Amount,Entry Type,Linked Reference,Our Reference,Balance,Source Line',
  'FT26152ABC01,2026-06-01 07:42:17,Booked,-250000.00,payout,,TUMA-B7K2Q9,,76',
  'FT26152ABC02,2026-06-01 00:00:00,Booked,-180000,payout,,TUMA-C3M8R1,,123',
  'FT26152CHG01,2026-06-01 20:30:00,Booked,-150.00,charge,,,,160',
  'FT26153REV01,2026-06-02 08:05:41,Booked,180000,reversal,,TUMA-C3M8R1,,182',
  'FT26153TOP01,2026-06-02 00:00:00,Booked,1000000.5,other,,,,219',
].map((l) => `${l}\r\n`).join('');

describe('camt.053 reader: what it writes', () => {
  test('when the bank fixture is read, then the output is the header block and one line per entry, byte for byte', async () => {
    expect(await read(createCamt053Reader(camt053V1), [fixture])).toBe(expected);
  });

  test('when the fixture comes one byte at a time, then the output is the same', async () => {
    expect(await read(createCamt053Reader(camt053V1), oneByOne(fixture))).toBe(expected);
  });

  test('when the fixture is read, then no name, counterparty account or narrative is written', async () => {
    const out = await read(createCamt053Reader(camt053V1), [fixture]);
    for (const text of ['AMINA', 'WANJIRU', 'OTIENO', 'JOSEPH', 'KAMAU', 'MWANGI', 'EASTLEIGH', 'UNHCR', 'WALLET', 'HUMANITARIAN', 'KE12KCBL', '254712345678', '254722000111']) {
      expect(out).not.toContain(text);
    }
    expect(out).not.toMatch(clearKenyanNumber);
  });

  test('when the output is read as the importer reads it, then the header block parses and the column header is the mapping\'s', async () => {
    const lines = (await read(createCamt053Reader(camt053V1), [fixture])).split('\r\n');
    expect(isColumnHeader(camt053V1, lines[5] ?? '')).toBe(true);
    expect(parseStatementHeader(camt053V1, lines.slice(0, 5), 'KES')).toEqual({
      ok: true,
      value: expect.objectContaining({
        period: { from: new Date('2026-05-31T21:00:00Z'), to: new Date('2026-06-02T21:00:00Z') },
        balances: { openingMinor: 500000000n, closingMinor: 574985050n },
      }),
    });
    for (const line of lines.slice(6, -1)) expect(splitCsvLine(line)).toHaveLength(camt053V1.columns.length);
  });

  test('when the document is of any version .02 to .13, prefixed or not, with Sts as a code or a choice, then it is read alike', async () => {
    const body = header() + entry({ sts: '<Sts><Cd>BOOK</Cd></Sts>' });
    const want = await linesOf(document(header() + entry()));
    for (const version of ['02', '08', '13']) expect(await linesOf(document(body, version))).toEqual(want);
    const prefixed = document(body, '13').replace(/<(\/?)([A-Za-z])/g, '<$1c:$2').replace('<c:?xml', '<?xml').replace('xmlns=', 'xmlns:c=');
    expect(await linesOf(prefixed)).toEqual(want);
    expect(want.slice(0, 7)).toEqual([
      'Account,KE00KCBL0000009876543210', 'Currency,KES', 'Time Period,From 2026-06-01 00:00:00 To 2026-06-01 23:59:59', 'Opening Balance,1000.00', 'Closing Balance,900.00',
      'Entry Reference,Booked At,Status,Amount,Entry Type,Linked Reference,Our Reference,Balance,Source Line', 'BNK0001,2026-06-01 00:00:00,Booked,-100.00,payout,,TUMA-AAA111,,1',
    ]);
  });

  test('when an entry is pending, then its raw status is written for the importer to name, not dropped', async () => {
    const lines = await linesOf(document(header() + entry({ sts: '<Sts><Cd>PDNG</Cd></Sts>', booked: '' }) + entry({ sts: '<Sts>INFO</Sts>' })));
    expect(lines.slice(6, 8)).toEqual(['BNK0001,,PDNG,-100.00,payout,,TUMA-AAA111,,1', 'BNK0001,2026-06-01 00:00:00,INFO,-100.00,payout,,TUMA-AAA111,,1']);
  });

  test('when references, codes and reversals vary, then the reference, our reference and the type follow the rules', async () => {
    const lines = await linesOf(document(header() + [
      entry({ refs: '<NtryRef>N-1</NtryRef>', btc: '<BkTxCd><Prtry><Cd>TRF-CHRG</Cd></Prtry></BkTxCd>' }),
      entry({ refs: '', btc: '<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>COMM</SubFmlyCd></Fmly></Domn></BkTxCd>', details: '<NtryDtls><TxDtls><Refs><AcctSvcrRef>TX-9</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs></TxDtls></NtryDtls>' }),
      entry({ side: 'DBIT', rvsl: '<RvslInd>true</RvslInd>', btc: '<BkTxCd><Prtry><Cd>CHRG</Cd></Prtry></BkTxCd>' }),
      entry({ side: 'CRDT', rvsl: '<RvslInd>false</RvslInd>', details: '<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch><TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs></TxDtls><TxDtls><Refs><EndToEndId>E2</EndToEndId></Refs></TxDtls></NtryDtls>' }),
      entry({ amt: '<Amt Ccy="KES">000.0</Amt>', refs: '<AcctSvcrRef>A,"B"</AcctSvcrRef>', booked: '<BookgDt><DtTm>2026-06-01T12:00:00.75-05:30</DtTm></BookgDt>' }),
    ].join('')));
    expect(lines.slice(6, 11)).toEqual([
      'N-1,2026-06-01 00:00:00,Booked,-100.00,charge,,TUMA-AAA111,,1',
      'TX-9,2026-06-01 00:00:00,Booked,-100.00,charge,,,,1',
      'BNK0001,2026-06-01 00:00:00,Booked,-100.00,reversal,,TUMA-AAA111,,1',
      'BNK0001,2026-06-01 00:00:00,Booked,100.00,other,,,,1',
      '"A,""B""",2026-06-01 17:30:00,Booked,0.0,payout,,TUMA-AAA111,,1',
    ]);
  });

  test('when the statement states no FrToDt, or states it in dates, then the period is the balances\' days, or the dates\' days', async () => {
    const byBalances = document(header({ period: '' }).replace(balance('CLBD', '900.00'), balance('CLBD', '900.00', 'DBIT', '<DtTm>2026-06-03T01:00:00+03:00</DtTm>')));
    expect((await linesOf(byBalances)).slice(2, 5)).toEqual(['Time Period,From 2026-06-01 00:00:00 To 2026-06-02 23:59:59', 'Opening Balance,1000.00', 'Closing Balance,-900.00']);
    const byDates = document(header({ period: '<FrToDt><FrDtTm>2026-06-01</FrDtTm><ToDtTm>2026-06-30</ToDtTm></FrToDt>' }));
    expect((await linesOf(byDates))[2]).toBe('Time Period,From 2026-06-01 00:00:00 To 2026-06-30 23:59:59');
    const previous = document(header().replace(balance('OPBD', '1000.00'), balance('PRCD', '0001000.50', 'DBIT')));
    expect((await linesOf(previous))[3]).toBe('Opening Balance,-1000.50');
  });

  test('when a statement has no entries, then the header block alone is written', async () => {
    expect(await linesOf(document(header()))).toHaveLength(7);
  });
});

describe('camt.053 reader: what it refuses, saying where and never what', () => {
  test('when a DOCTYPE comes (entities, external or not), then it is refused before any of it is read', async () => {
    const laughs = '<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>' + document(header()).replace(/^<\?xml[^>]*>/, '');
    expect((await refusal(laughs)).problem).toBe('the document has a DOCTYPE: refused (no DTD is read)');
    const external = '<!DOCTYPE Document SYSTEM "file:///etc/passwd">' + document(header()).replace(/^<\?xml[^>]*>/, '');
    const e = await read(createCamt053Reader(camt053V1), oneByOne(Buffer.from(external))).then(() => null, (x: unknown) => x);
    expect((e as StatementReadError).problem).toBe('the document has a DOCTYPE: refused (no DTD is read)');
  });

  test('when an amount is not an amount, or has more than 15 integer digits, then the entry is named', async () => {
    const e = await refusal(document(header() + entry() + entry({ amt: '<Amt Ccy="KES">1,000.00</Amt>' })));
    expect(e.problem).toBe('entry 2 (XML line 1): Amt is not a decimal amount');
    expect(e.line).toBe(2);
    expect((await refusal(document(header() + entry({ amt: '<Amt Ccy="KES">-5.00</Amt>' })))).problem).toMatch(/Amt is not a decimal amount/);
    expect((await refusal(document(header() + entry({ amt: '<Amt Ccy="KES">1234567890123456.00</Amt>' })))).problem).toMatch(/Amt has more than 15 integer digits/);
    expect((await refusal(document(header().replace('1000.00', '1e3')))).problem).toMatch(/^Bal \(XML line 1\): Amt is not a decimal amount/);
  });

  test('when a date is no calendar date, then it is refused', async () => {
    expect((await refusal(document(header() + entry({ booked: '<BookgDt><Dt>2026-02-30</Dt></BookgDt>' })))).problem).toBe('entry 1 (XML line 1): a date that is not YYYY-MM-DD of the calendar');
    expect((await refusal(document(header() + entry({ booked: '<BookgDt><DtTm>2026-06-01T24:00:00Z</DtTm></BookgDt>' })))).problem).toMatch(/a date-time that is not/);
    expect((await refusal(document(header() + entry({ booked: '<BookgDt><DtTm>2026-06-01T10:00:00+15:00</DtTm></BookgDt>' })))).problem).toMatch(/a date-time that is not/);
    expect((await refusal(document(header({ period: '<FrToDt><FrDtTm>2026-06-02T00:00:00Z</FrDtTm><ToDtTm>2026-06-01T00:00:00Z</ToDtTm></FrToDt>' })))).problem).toMatch(/FrToDt: the period ends before it starts/);
  });

  test('when CdtDbtInd is neither CRDT nor DBIT, or RvslInd no boolean, then it is refused', async () => {
    expect((await refusal(document(header() + entry({ side: 'DEBIT' })))).problem).toBe('entry 1 (XML line 1): CdtDbtInd is neither CRDT nor DBIT');
    expect((await refusal(document(header() + entry({ rvsl: '<RvslInd>yes</RvslInd>' })))).problem).toMatch(/RvslInd is neither true nor false/);
  });

  test('when an entry or a balance is in another currency than the statement, then it is refused', async () => {
    expect((await refusal(document(header() + entry({ amt: '<Amt Ccy="USD">100.00</Amt>' })))).problem).toMatch(/^entry 1 \(XML line 1\): its currency \(Amt@Ccy\) is not the statement's/);
    expect((await refusal(document(header().replace(balance('CLBD', '900.00'), balance('CLBD', '900.00', 'CRDT', '<Dt>2026-06-01</Dt>', 'UGX'))))).problem).toMatch(/^Bal .*its currency is not the statement's/);
  });

  test('when the document holds two statements, or none, then it is refused, not merged', async () => {
    const two = document(header() + entry()).replace('</Stmt>', `</Stmt><Stmt><Id>S2</Id>${header()}${entry()}</Stmt>`);
    expect((await refusal(two)).problem).toMatch(/^a second Stmt \(XML line 1\): the file holds more than one statement/);
    expect((await refusal(document('').replace(/<Stmt>.*<\/Stmt>/, ''))).problem).toBe('no Stmt: the document holds no statement');
  });

  test('when an element\'s text, or a stretch without markup, is longer than the limit, then it is refused', async () => {
    const long = entry({ details: `<AddtlNtryInf>${'WANJIRU AKINYI '.repeat(10)}</AddtlNtryInf>` });
    expect((await refusal(document(header() + long), { fieldCharsMax: 100 })).problem).toBe('an element\'s text is longer than 100 characters (XML line 1)');
    const stretch = document(header() + entry({ details: `<AddtlNtryInf>${'A'.repeat(2000)}</AddtlNtryInf>` }));
    const e = await read(createCamt053Reader(camt053V1, { fieldCharsMax: 100 }), oneByOne(Buffer.from(stretch))).then(() => null, (x: unknown) => x);
    expect((e as StatementReadError).problem).toMatch(/^more than 1124 characters without markup \(by character \d+\)$/);
  });

  test('when elements nest deeper than the limit, then it is refused', async () => {
    const deep = document(header() + entry({ details: `${'<X>'.repeat(40)}${'</X>'.repeat(40)}` }));
    expect((await refusal(deep)).problem).toBe('elements nested deeper than 32 (XML line 1)');
    expect((await refusal(document(header()), { depthMax: 4 })).problem).toMatch(/^elements nested deeper than 4/);
  });

  test('when the document is cut short, or not well-formed, then the position is named and not the text', async () => {
    const cut = fixture.subarray(0, fixture.indexOf('FT26153REV01'));
    const e = await refusal(cut);
    expect(e.problem).toMatch(/^not well-formed XML at XML line \d+, column \d+: unclosed tag$/);
    expect((await refusal(document(header()).replace('</Acct>', '</Account>'))).problem).toMatch(/^not well-formed XML at XML line 1, column \d+: unexpected close tag\.$/);
    expect((await refusal(document(header()).replace('KES</Ccy>', '&WANJIRU;</Ccy>'))).problem).toMatch(/^not well-formed XML/);
  });

  test('when the header lacks what the mapping needs, then it is refused', async () => {
    expect((await refusal(document(header({ account: '<Acct><Ccy>KES</Ccy></Acct>' }) + entry()))).problem).toMatch(/^no Acct\/Id\/IBAN or Acct\/Id\/Othr\/Id/);
    expect((await refusal(document(header().replace(balance('OPBD', '1000.00'), '') + entry()))).problem).toMatch(/^no opening balance/);
    expect((await refusal(document(header().replace(balance('CLBD', '900.00'), '')))).problem).toMatch(/^no closing balance/);
    expect((await refusal(document(header() + entry() + balance('CLAV', '1.00')))).problem).toMatch(/^a Bal after the entries/);
    expect((await refusal(document(header() + balance('OPBD', '1.00')))).problem).toMatch(/a second OPBD balance/);
    expect((await refusal(document(header({ period: '' }).replace('<Dt><Dt>2026-06-01</Dt></Dt>', '')))).problem).toMatch(/states no period/);
    expect((await refusal(document(header() + entry({ refs: '', details: '' })))).problem).toMatch(/no reference \(AcctSvcrRef, NtryRef or TxDtls\/Refs\/AcctSvcrRef\)/);
  });

  test('when the file is empty, not UTF-8, not camt.053, or larger than allowed, or has too many entries, then it is refused', async () => {
    expect((await refusal('')).problem).toBe('the file is empty');
    expect((await refusal(Buffer.concat([Buffer.from(document(header()).slice(0, 300)), Buffer.from([0xff, 0xfe])]))).problem).toMatch(/^the file is not UTF-8/);
    expect((await refusal(document(header()).replace('camt.053.001.02', 'camt.052.001.02'))).problem).toMatch(/^the root is not a camt.053 Document/);
    expect((await refusal(document(header()).replace('camt.053.001.02', 'camt.053.001.14'))).problem).toMatch(/^the root is not a camt.053 Document/);
    expect((await refusal(document(header()).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'))).problem).toBe('the XML declaration names an encoding other than UTF-8');
    expect((await refusal(document(header()), { bytesMax: 100 })).problem).toBe('the file is larger than 100 bytes');
    expect((await refusal(document(header() + entry() + entry()), { entriesMax: 1 })).problem).toBe('more than 1 entries');
  });

  test('when the reader is made for another container, then that is a programming error', () => {
    expect(() => createCamt053Reader(mt940V1)).toThrow(/invariant violated/);
  });
});
