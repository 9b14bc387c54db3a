// Looks for beneficiary data in clear (issue #15 item 4): phone numbers and names a test gave
// Tuma, in every form they could take, wherever the test points it — strings (log lines, /metrics,
// HTTP answers), raw bytes (bytea values, Kafka keys, values and headers), every text, json and
// bytea column of a database, every message of Kafka topics.
//
// What counts as a hit:
//  - a number, as any whole run of digits (not part of a longer run) equal to one of its forms:
//    E.164 digits (reported as "E.164" when a '+' stands before them, "E.164 without +" when not),
//    the national number with its leading 0, the national significant number, its last 9 digits;
//  - a name, case-insensitive: the whole name anywhere, and each part of 5 letters or more as a
//    whole word (not inside a longer run of letters, so that base64 or hex does not match by chance).
// Bytes are read as UTF-8 and as UTF-16LE at both alignments, so either encoding is found; sealed
// values are ciphertext and match nothing.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { parsePhoneNumberFromString } from 'libphonenumber-js/mobile';
import type pg from 'pg';

export interface ClearHit {
  /** Where: `db table.column (ctid)`, `kafka topic[partition]@offset value`, `log #n`, … as the caller names it. */
  readonly where: string;
  /** The number or name found (as the test gave it). */
  readonly value: string;
  /** The form it was found in: "E.164", "national with 0", "name part", … */
  readonly form: string;
  /** How the bytes were read: text, utf8 or utf16le. */
  readonly encoding: 'text' | 'utf8' | 'utf16le';
  /** The hit with some context (control characters shown as '.'). */
  readonly excerpt: string;
}

interface Form {
  readonly value: string;
  readonly form: string;
}

export interface ClearNeedles {
  readonly digits: ReadonlyMap<string, readonly Form[]>;
  readonly words: ReadonlyMap<string, readonly Form[]>;
  readonly names: readonly { readonly lower: string; readonly value: string }[];
}

/** A number's forms (E.164 given with or without its '+'), each the digit run it is. */
export function numberForms(number: string): { readonly form: string; readonly run: string }[] {
  const digits = number.replace(/\D/g, '');
  const nsn = parsePhoneNumberFromString(`+${digits}`)?.nationalNumber ?? digits.slice(-9);
  return [
    { form: 'E.164 without +', run: digits },
    { form: 'national with 0', run: `0${nsn}` },
    { form: 'national significant number', run: nsn },
    { form: 'last 9 digits', run: digits.slice(-9) },
  ];
}

/** The needles for `numbers` (E.164) and `names`. */
export function clearNeedles(values: { readonly numbers: readonly string[]; readonly names: readonly string[] }): ClearNeedles {
  const digits = new Map<string, Form[]>();
  for (const number of values.numbers) {
    for (const { form, run } of numberForms(number)) {
      const list = digits.get(run) ?? [];
      if (!list.some((x) => x.value === number && x.form === form)) list.push({ value: number, form });
      digits.set(run, list);
    }
  }
  const words = new Map<string, Form[]>();
  const names: { lower: string; value: string }[] = [];
  for (const name of values.names) {
    names.push({ lower: name.toLowerCase(), value: name });
    for (const part of name.split(/[^\p{L}]+/u).filter((p) => [...p].length >= 5)) {
      const key = part.toLowerCase();
      const list = words.get(key) ?? [];
      if (!list.some((x) => x.value === name)) list.push({ value: name, form: `name part "${part}"` });
      words.set(key, list);
    }
  }
  return { digits, words, names };
}

const excerptOf = (text: string, at: number, length: number): string =>
  // eslint-disable-next-line no-control-regex
  text.slice(Math.max(0, at - 40), at + length + 40).replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '.');

/** Every hit of the needles in a string. */
export function scanText(needles: ClearNeedles, where: string, text: string, encoding: ClearHit['encoding'] = 'text'): ClearHit[] {
  const hits: ClearHit[] = [];
  for (const m of text.matchAll(/[0-9]{8,}|\p{L}{5,}/gu)) {
    const token = m[0];
    const at = m.index;
    if (/^[0-9]/.test(token)) {
      for (const f of needles.digits.get(token) ?? []) {
        const form = f.form === 'E.164 without +' && text[at - 1] === '+' ? 'E.164' : f.form;
        hits.push({ where, value: f.value, form, encoding, excerpt: excerptOf(text, at, token.length) });
      }
    } else {
      for (const f of needles.words.get(token.toLowerCase()) ?? []) hits.push({ where, value: f.value, form: f.form, encoding, excerpt: excerptOf(text, at, token.length) });
    }
  }
  if (needles.names.length > 0) {
    const lower = text.toLowerCase();
    for (const n of needles.names) {
      for (let i = lower.indexOf(n.lower); i >= 0; i = lower.indexOf(n.lower, i + 1)) {
        hits.push({ where, value: n.value, form: 'whole name', encoding, excerpt: excerptOf(text, i, n.lower.length) });
      }
    }
  }
  return hits;
}

/** Every hit in raw bytes, read as UTF-8 and as UTF-16LE at both alignments. */
export function scanBytes(needles: ClearNeedles, where: string, bytes: Buffer): ClearHit[] {
  return [
    ...scanText(needles, where, bytes.toString('utf8'), 'utf8'),
    ...scanText(needles, where, bytes.toString('utf16le'), 'utf16le'),
    ...(bytes.length > 1 ? scanText(needles, where, bytes.subarray(1).toString('utf16le'), 'utf16le') : []),
  ];
}

/** A value as a database or Kafka hands it: a string, bytes, or nothing. */
export function scanValue(needles: ClearNeedles, where: string, value: unknown): ClearHit[] {
  if (value === null || value === undefined) return [];
  if (Buffer.isBuffer(value)) return scanBytes(needles, where, value);
  if (Array.isArray(value)) return value.flatMap((v, i) => scanValue(needles, `${where}[${i}]`, v));
  return scanText(needles, where, String(value));
}

export interface ScannedColumn {
  readonly table: string;
  readonly column: string;
  readonly type: string;
  /** Non-null values read. */
  readonly values: number;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Every column of type text, varchar, char, json, jsonb, bytea (and arrays of the text types) of
 * every base table outside the system schemas, every row (json and arrays read as their text).
 * Reads whole tables: meant for a test's own database.
 */
export async function scanDatabase(pool: pg.Pool, needles: ClearNeedles): Promise<{ hits: ClearHit[]; columns: ScannedColumn[] }> {
  const { rows } = await pool.query<{ table_schema: string; table_name: string; column_name: string; data_type: string; udt_name: string }>(`
    SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE t.table_type = 'BASE TABLE'
      AND c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg\\_%'
      AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
           OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar', '_bpchar', '_json', '_jsonb', '_bytea')))
    ORDER BY c.table_schema, c.table_name, c.ordinal_position`);
  const tables = new Map<string, { schema: string; table: string; columns: { name: string; type: string }[] }>();
  for (const r of rows) {
    const key = `${r.table_schema}.${r.table_name}`;
    const t = tables.get(key) ?? { schema: r.table_schema, table: r.table_name, columns: [] };
    t.columns.push({ name: r.column_name, type: r.data_type === 'ARRAY' ? r.udt_name : r.data_type });
    tables.set(key, t);
  }
  const hits: ClearHit[] = [];
  const columns: ScannedColumn[] = [];
  for (const t of tables.values()) {
    const label = t.schema === 'public' ? t.table : `${t.schema}.${t.table}`;
    const select = t.columns.map((c, i) => `${quoteIdent(c.name)}${c.type === 'bytea' || c.type === '_bytea' ? '' : '::text'} AS c${i}`).join(', ');
    const result = await pool.query<Record<string, unknown>>(`SELECT ctid::text AS row_ctid, ${select} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)}`);
    t.columns.forEach((c, i) => {
      let values = 0;
      for (const row of result.rows) {
        const value = row[`c${i}`];
        if (value === null || value === undefined) continue;
        values += 1;
        hits.push(...scanValue(needles, `db ${label}.${c.name} (row ${String(row.row_ctid)})`, value));
      }
      columns.push({ table: label, column: c.name, type: c.type, values });
    });
  }
  return { hits, columns };
}

/**
 * Every message of `topics` from the beginning, with a consumer group of its own: key, value,
 * header names and values. Reads up to each partition's end as it was when the scan began.
 */
export async function scanKafkaTopics(
  brokers: readonly string[],
  topics: readonly string[],
  needles: ClearNeedles,
  timeoutMs = 30_000,
): Promise<{ hits: ClearHit[]; messages: Record<string, number>; unread: string[] }> {
  const kafka = new Kafka({ clientId: 'tuma-clear-data-scan', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  try {
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  const hits: ClearHit[] = [];
  const messages: Record<string, number> = Object.fromEntries(topics.map((t) => [t, 0]));
  if (ends.size === 0) return { hits, messages, unread: [] };
  const pending = new Set(ends.keys());
  const groupId = `tuma-clear-data-scan-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const key = `${topic}:${partition}`;
        const end = ends.get(key);
        if (end === undefined || BigInt(message.offset) >= end) return;
        messages[topic] = (messages[topic] ?? 0) + 1;
        const where = `kafka ${topic}[${partition}]@${message.offset}`;
        hits.push(...scanValue(needles, `${where} key`, message.key));
        hits.push(...scanValue(needles, `${where} value`, message.value));
        for (const [name, value] of Object.entries(message.headers ?? ({} as IHeaders))) {
          hits.push(...scanText(needles, `${where} header name`, name));
          hits.push(...scanValue(needles, `${where} header ${name}`, value));
        }
        if (BigInt(message.offset) + 1n >= end) {
          pending.delete(key);
          if (pending.size === 0) done();
        }
      },
    });
    await Promise.race([finished, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  } finally {
    await consumer.disconnect();
  }
  return { hits, messages, unread: [...pending] };
}

/** Hits as lines a failed expectation shows: where, what, in which form, with context. */
export const describeHits = (hits: readonly ClearHit[]): string[] =>
  hits.map((h) => `${h.where}: ${h.value} as ${h.form} (${h.encoding}) … ${h.excerpt} …`);
