// What the provider simulators share: their shape, the bounds of their fault-injection control
// APIs, the validation of a fault rule's number pattern, the deterministic parts of fault
// injection (latency distribution, error rates, a float that runs out), and the statement format
// (numbers masked, CSV, reversals as negative lines, amounts with thousands separators).
import { createHash, randomFillSync } from 'node:crypto';
import type { Router } from 'express';
import { Agent, request } from 'undici';
import { z } from 'zod';

/** A provider simulator: the provider's API, a control API for tests, and what it executed. */
export interface ProviderSimulator<Faults, StatementLine> {
  /** The provider's own paths. */
  readonly router: Router;
  /** PUT /faults, GET /executions/:key, GET /statement?format=json|csv. */
  readonly controlRouter: Router;
  setFaults(faults: Faults): void;
  statement(): StatementLine[];
  /** How many times the request sent under this idempotency key ran (0 or 1, if the provider is right). */
  executions(key: string): number;
  /** Resolves when no callback is waiting to be sent. */
  drained(): Promise<void>;
  close(): void;
}

/** Random bytes drawn from the operating system at once, then handed out a few at a time (randomHex). */
const randomPoolBytes = 4_096;
const randomPool = Buffer.alloc(randomPoolBytes);
let randomPoolAt = randomPoolBytes;

/**
 * `bytes` random bytes as lower-case hex, for the simulators' references and receipts. One
 * randomBytes call per reference cost the M-Pesa simulator a tenth of its CPU in the load test: the
 * bytes now come from a pool filled 4 KB at a time. Not for secrets (a token uses randomBytes).
 */
export function randomHex(bytes: number): string {
  if (!(Number.isInteger(bytes) && bytes >= 1 && bytes <= 64)) throw new Error('randomHex: 1 to 64 bytes');
  if (randomPoolAt + bytes > randomPoolBytes) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const hex = randomPool.toString('hex', randomPoolAt, randomPoolAt + bytes);
  randomPoolAt += bytes;
  return hex;
}

/** Fault rules per simulator at most. */
export const faultRulesMax = 64;
/** A rule's pattern is a short regular expression over the payee number as the provider sees it. */
export const faultPatternMaxChars = 200;
/** How long an injected delay or held answer may be. */
export const faultDelayMaxMs = 120_000;
/** Statement lines returned at most. */
export const statementLinesMax = 100_000;

/** True when `source` compiles as a regular expression (for a zod refine on a rule's pattern). */
export function isRegExpSource(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** A phone number in a statement: all but its last three digits masked. */
export const maskNumber = (number: string): string => `${'*'.repeat(Math.max(0, number.length - 3))}${number.slice(-3)}`;

const csvField = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** One CSV line (no line end): the fields joined by commas, each quoted where it needs it (RFC 4180). */
export const csvRow = (fields: readonly string[]): string => fields.map(csvField).join(',');

/**
 * A statement as CSV: the header, then one line per entry, fields quoted where needed.
 *
 * The format of the MoMo, GSMA and Airtel simulators (M-Pesa's CSV is the organisation portal's
 * export, see mpesa-simulator.ts): a line per executed payout; a payout the provider later
 * reversed has a second line, the same columns again with the amount negated (`reversedAmount`),
 * the status column saying reversed (in the casing of that statement's other statuses) and the
 * time column the reversal's.
 */
export function statementCsv<K extends string>(header: readonly K[], lines: readonly Readonly<Record<K, string>>[]): string {
  return [header.join(','), ...lines.map((l) => csvRow(header.map((h) => l[h])))].join('\n') + '\n';
}

/**
 * Minor units as a statement amount with thousands separators and `decimals` fraction digits, a
 * leading minus when negative: 102000n, 2 → "1,020.00" (the M-Pesa portal's way of writing them).
 */
export function groupedAmount(minor: bigint, decimals: number): string {
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals).replace(/\B(?=(\d{3})+$)/g, ',');
  return `${negative ? '-' : ''}${whole}${decimals > 0 ? `.${digits.slice(-decimals)}` : ''}`;
}

/** A rule's number pattern: a short regular expression that compiles. */
export const faultPatternSchema = z.string().min(1).max(faultPatternMaxChars).refine(isRegExpSource, 'must be a regular expression');
/** An injected delay, hold or latency, in milliseconds. */
export const faultDelaySchema = z.number().int().min(0).max(faultDelayMaxMs);

/** The amount of a statement's reversal line: the reversed line's amount, negated. */
export const reversedAmount = (amount: string): string => (amount.startsWith('-') ? amount.slice(1) : `-${amount}`);

/**
 * A latency distribution: a request waits `baseMs` plus a share of `jitterMs` fixed by the hash of
 * its idempotency key (uniform over [baseMs, baseMs + jitterMs], the same on every rerun).
 */
export const faultLatencySchema = z
  .strictObject({ baseMs: faultDelaySchema.default(0), jitterMs: faultDelaySchema.default(0) })
  .refine((l) => l.baseMs + l.jitterMs <= faultDelayMaxMs, { message: `baseMs + jitterMs must be at most ${faultDelayMaxMs}` });
export type FaultLatency = z.output<typeof faultLatencySchema>;

/** The share of requests, in percent (0–100, decimals allowed), answered with the provider's transient error. */
export const faultErrorRateSchema = z.number().min(0).max(100);

/** A float (the account payouts are taken from) as a decimal string with at most `decimals` decimals. */
export const faultFloatSchemaOf = (decimals: number) =>
  z.string().regex(new RegExp(`^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,${decimals}})?$`), `must be a decimal string with at most ${decimals} decimals`);

/**
 * What a rule may make a callback (and the status answer) REPORT instead of the truth: an amount,
 * a currency, a receiving number, a fixed receipt (as if reused on two payouts), a fee. They never
 * change what the simulator executes, takes from the float, counts or writes in its statement:
 * they are the provider's lies, for testing that Tuma checks what it is told (issue #19 item 4).
 */
/** A reported receiving number has at most this many digits (E.164). */
export const reportReceiverDigitsMax = 15;
/** A reported receipt (transaction id, reference) is at most this long. */
export const reportReceiptCharsMax = 64;
/** A reported amount (or fee): a decimal string with at most `decimals` decimals and `integerDigits` integer digits. */
export const reportAmountSchemaOf = (decimals: number, integerDigits = 18) =>
  z.string().regex(new RegExp(`^(0|[1-9][0-9]{0,${integerDigits - 1}})(\\.[0-9]{1,${decimals}})?$`), `must be a decimal string with at most ${integerDigits} integer digits and ${decimals} decimals`);
/** A reported currency: an ISO 4217 code (any, even one the simulator does not serve). */
export const reportCurrencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code');
/** A reported receiving number: digits only, as the provider would write it (any length up to E.164's, national ones too). */
export const reportReceiverSchema = z.string().regex(new RegExp(`^[0-9]{1,${reportReceiverDigitsMax}}$`), `must be 1 to ${reportReceiverDigitsMax} digits`);
/** A reported receipt in the provider's alphabet (`characters`, a regular-expression class). */
export const reportReceiptSchemaOf = (characters: string) =>
  z.string().regex(new RegExp(`^[${characters}]{1,${reportReceiptCharsMax}}$`), `must be 1 to ${reportReceiptCharsMax} of [${characters}]`);

/** The name a simulator gives a payee it only knows by number: obviously fake, upper-case as Daraja writes names. */
export const simulatedPayeeName = 'TUMA TEST PAYEE';

/**
 * Which of a provider's two spellings of the same thing (ResultCode as number or string, MoMo's
 * reason as string or object, GSMA's errorDescription or errordescription) a message about `key`
 * uses: fixed by the hash of `what` and `key`, so a rerun meets the same and a few payouts meet both.
 */
export const picksSecondShape = (what: string, key: string): boolean => hashFraction('shape', what, key) < 0.5;

/**
 * A number in [0, 1) fixed by `parts` (the first 32 bits of their SHA-256): the simulators' only
 * source of chance, so that a rerun with the same keys meets the same faults.
 */
export function hashFraction(...parts: readonly string[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0) / 2 ** 32;
}

/** The extra delay `latency` gives the request sent under `key`: in [baseMs, baseMs + jitterMs], at most faultDelayMaxMs; 0 without one. */
export function deterministicDelayMs(key: string, latency: FaultLatency | undefined): number {
  if (!latency) return 0;
  return Math.min(faultDelayMaxMs, latency.baseMs + Math.floor(hashFraction('latency', key) * (latency.jitterMs + 1)));
}

/**
 * How long the answer to the request sent under `key` is delayed: the fixed `latencyMs`, plus the
 * deterministic delay of the matching rule's latency, or else of the global one; at most
 * faultDelayMaxMs.
 */
export function answerDelayMs(faults: { readonly latencyMs: number; readonly latency?: FaultLatency | undefined }, rule: { readonly latency?: FaultLatency | undefined } | undefined, key: string): number {
  return Math.min(faultDelayMaxMs, faults.latencyMs + deterministicDelayMs(key, rule?.latency ?? faults.latency));
}

/**
 * Whether the `attempt`-th request (0 for the first) sent under `key` that meets an error rate of
 * `percent` gets the provider's transient error: when hashFraction('error-rate', key, attempt)
 * × 100 is below it. Deterministic per key and attempt, so a rerun fails the same requests, while a
 * resend with the same key is a new draw that may go through. 0 or absent: never; 100: always.
 */
export function failsAtErrorRate(key: string, attempt: number, percent: number | undefined): boolean {
  if (percent === undefined || percent <= 0) return false;
  return hashFraction('error-rate', key, String(attempt)) * 100 < percent;
}

/** Counts the requests per key that met an error rate (the `attempt` of failsAtErrorRate); the oldest key is forgotten past `max`. */
export function createAttemptCounter(max: number): { next(key: string): number } {
  const seen = new Map<string, number>();
  return {
    next(key) {
      const attempt = seen.get(key) ?? 0;
      if (attempt === 0 && seen.size >= max) seen.delete(seen.keys().next().value as string);
      seen.set(key, attempt + 1);
      return attempt;
    },
  };
}

/** A simulator's faults: a latency added to every answer, and at most `faultRulesMax` rules of its own shape. */
export function faultsSchemaOf<Rule extends z.ZodType>(rule: Rule) {
  return z.strictObject({
    latencyMs: faultDelaySchema.default(0),
    rules: z.array(rule).max(faultRulesMax).default([]),
  });
}

/**
 * A simulator's work in flight: timers (delayed answers and callbacks), answers held past the
 * client's timeout, and callbacks being delivered. drained() waits for all of it; close() cancels
 * the timers and drops held connections (a held answer would keep the server open).
 */
export interface SimulatorTasks {
  later(ms: number, run: () => void): void;
  /** `run` now, or after `ms` when positive. */
  delayed(ms: number, run: () => void): void;
  /** Answers with `answer` after `ms`, unless the connection is gone or the simulator closed first. */
  hold(res: { readonly headersSent: boolean; readonly destroyed: boolean; destroy(): void }, ms: number, answer: () => void): void;
  /** Keeps track of a callback delivery until it settles. */
  track(delivery: Promise<unknown>): void;
  /**
   * Runs one try of a callback delivery when fewer than simulatorCallbacksInFlightMax are in flight
   * (else waits its turn, before its timeout starts): a simulator does not post thousands at once
   * and then retry those the gateway answered late, which measured the simulator, not the gateway.
   */
  inFlight<T>(send: () => Promise<T>): Promise<T>;
  /**
   * One try of a callback delivery, in its turn (inFlight): `body` sent to `url` over the
   * simulator's keep-alive connections, its answer read to the end; the answer's status. Throws when
   * the gateway does not answer within `timeoutMs` (no headers, or the body stalls).
   */
  post(url: string, init: CallbackPost): Promise<number>;
  readonly closed: boolean;
  drained(): Promise<void>;
  close(): void;
}

/**
 * Callback posts one simulator has in flight at most (each try; a retry waits its turn again). A
 * provider sends its callbacks as its payments complete, not one after another: the bound keeps
 * the double from opening thousands of connections and retrying what the gateway answers late,
 * and is wide enough that the gateway's intake, not the double's window, is what e2e measures
 * (at 64 the callbacks trailed the dispatch by seconds; at 1,024 some waited past their timeout).
 */
export const simulatorCallbacksInFlightMax = 256;

/** A callback's request: its method, headers and JSON body, and how long its answer may take. */
export interface CallbackPost {
  readonly method: 'POST' | 'PUT';
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
  readonly timeoutMs: number;
}

/** How long an idle callback connection is kept for the next callback, ms. */
const callbackKeepAliveMs = 4_000;
/** How long a callback's connection may take to open, ms. */
const callbackConnectTimeoutMs = 5_000;

export function createSimulatorTasks(): SimulatorTasks {
  const timers = new Set<NodeJS.Timeout>();
  let sendingNow = 0;
  const waiting: (() => void)[] = [];
  const held = new Map<NodeJS.Timeout, { destroy(): void }>();
  const sending = new Set<Promise<unknown>>();
  let closed = false;
  // Callbacks go out over undici's own client, not the global fetch: fetch's WHATWG streams, abort
  // signals and per-request objects made a simulator spend more CPU per payout (2.7 ms, measured
  // in the load test) than the gateway it was testing, on the same two cores. Made at the first
  // callback: most simulators of the tests send none.
  let agent: Agent | null = null;
  const inFlight = async <T>(send: () => Promise<T>): Promise<T> => {
    if (sendingNow >= simulatorCallbacksInFlightMax) await new Promise<void>((resolve) => waiting.push(resolve));
    else sendingNow += 1;
    try {
      return await send();
    } finally {
      // The slot passes to the next waiting try, or is freed.
      const next = waiting.shift();
      if (next) next();
      else sendingNow -= 1;
    }
  };
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };
  return {
    later,
    delayed: (ms, run) => (ms > 0 ? later(ms, run) : run()),
    hold(res, ms, answer) {
      const timer = setTimeout(() => {
        held.delete(timer);
        if (!res.headersSent && !res.destroyed) answer();
      }, ms);
      held.set(timer, res);
    },
    inFlight,
    post(url, init) {
      return inFlight(async () => {
        if (closed) throw new Error('the simulator is closed');
        agent ??= new Agent({ connections: simulatorCallbacksInFlightMax, keepAliveTimeout: callbackKeepAliveMs, connect: { timeout: callbackConnectTimeoutMs } });
        const res = await request(url, {
          method: init.method, headers: init.headers, body: init.body, dispatcher: agent, headersTimeout: init.timeoutMs, bodyTimeout: init.timeoutMs,
        });
        await res.body.dump();
        return res.statusCode;
      });
    },
    track(delivery) {
      const tracked: Promise<unknown> = delivery.catch(() => undefined).finally(() => sending.delete(tracked));
      sending.add(tracked);
    },
    get closed() {
      return closed;
    },
    async drained() {
      while (timers.size > 0 || sending.size > 0) {
        await Promise.all(sending);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const [timer, res] of held) {
        clearTimeout(timer);
        res.destroy();
      }
      held.clear();
      // Idle callback connections go; one still sending ends with its delivery.
      void agent?.close().catch(() => undefined);
      agent = null;
    },
  };
}
