// JSON bodies with each member name once per object (issue #15 item 5). JSON.parse keeps the last
// of two members of one name where other parsers keep the first or refuse: a body that two readers
// may read differently (a signer's tool and Tuma, a proxy and Tuma) is refused, 400 REQUEST_MALFORMED.
import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';

/** Whether `text` has an object with two members of the same name (after unescaping); false for anything that is not JSON-like. */
export function hasDuplicateMember(text: string): boolean {
  // One entry per open container: the names seen in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (;;) {
        end = text.indexOf('"', end);
        if (end < 0) return false; // unterminated: not JSON, the parser refuses it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes += 1;
        if (backslashes % 2 === 0) break;
        escaped = true;
        end += 1;
      }
      // Any escape inside the string (looked for within it only: a search from its end back to the
      // text's start made a 20 MB batch document quadratic, minutes of CPU).
      for (let k = i + 1; !escaped && k < end; k += 1) if (text.charCodeAt(k) === 0x5c) escaped = true;
      const names = open[open.length - 1];
      if (expectName && names) {
        let name: string;
        try {
          name = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        } catch {
          return false;
        }
        if (names.has(name)) return true;
        names.add(name);
        expectName = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      expectName = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      expectName = (open[open.length - 1] ?? null) !== null;
    } else if (c === 0x3a /* : */) {
      expectName = false;
    }
    i += 1;
  }
  return false;
}

/**
 * A raw body that is JSON with a member name twice in one object (what a callback route refuses
 * before anything reads it; a body that is not JSON at all is left to the route's own parser).
 */
export function isJsonWithDuplicateMember(text: string): boolean {
  if (!hasDuplicateMember(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The detail of the refusal. */
export const duplicateMemberDetail = 'a member name appears twice in one object';

/** Thrown from a body parser's verify: the error handler (app.ts) answers it 400 REQUEST_MALFORMED. */
export class DuplicateMemberError extends Error {
  readonly status = 400;
  readonly type = 'entity.duplicate.member';
  constructor() {
    super(duplicateMemberDetail);
  }
}

const decode = (buf: Buffer, encoding: string | null | undefined) =>
  (!encoding || /^utf-?8$/i.test(encoding) ? buf.toString('utf8') : new TextDecoder(encoding).decode(buf));

/** express.json that also refuses a body with a member name twice in one object. */
export function jsonBody(options: { readonly limit: number; readonly type: (req: IncomingMessage) => boolean }): RequestHandler {
  return express.json({
    limit: options.limit,
    strict: true,
    type: options.type,
    verify: (_req, _res, buf, encoding) => {
      if (hasDuplicateMember(decode(buf, encoding))) throw new DuplicateMemberError();
    },
  });
}
