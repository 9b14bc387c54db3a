// What the API's handlers outside Express share (callback-fast-path.ts, read-fast-path.ts): the
// headers every answer of the API carries (helmet's, read from it once; cache-control; the
// request's id), and JSON answers written as Express's res.json writes them. Express's own work per
// request (its request and response objects, its router, res.send) cost ~100 µs of CPU more than
// node:http's alone on the 2-core load-test machine (issue #17), on the API's two busiest routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import etag from 'etag';
import type { Logger } from 'pino';
import type { Rejection } from '../../domain/errors.js';
import { rejectionBody, rejectionStatus } from './errors.js';

/** What a middleware does to a response's headers, in order (helmet's: the same for every answer). */
export type HeaderChange = readonly ['set', string, string] | readonly ['remove', string];

/** The header changes a middleware makes on a response that has none yet. */
export function headersSetBy(middleware: (req: unknown, res: unknown, next: (error?: unknown) => void) => void): readonly HeaderChange[] {
  const changes: HeaderChange[] = [];
  const headers = new Map<string, string>();
  const res = {
    setHeader: (name: string, value: unknown) => {
      headers.set(name.toLowerCase(), String(value));
      changes.push(['set', name, String(value)]);
    },
    removeHeader: (name: string) => {
      headers.delete(name.toLowerCase());
      changes.push(['remove', name]);
    },
    getHeader: (name: string) => headers.get(name.toLowerCase()),
  };
  let called = false;
  middleware({ headers: {}, method: 'POST', url: '/' }, res, (error) => {
    if (error) throw error;
    called = true;
  });
  if (!called) throw new Error('invariant violated: the header middleware did not finish at once');
  return changes;
}

export interface FastPathCommon {
  /**
   * What Express's first middleware does to a request it takes: its id (x-request-id set on the
   * answer) and, when the API logs at info, pino-http's line for its answer once it ends. Returns
   * the request's logger (made only when something logs).
   */
  readonly begin: (req: IncomingMessage, res: ServerResponse) => () => Logger;
  /** What the API does to every answer's headers first (helmet's security headers; X-Powered-By removed). */
  readonly securityHeaders: readonly HeaderChange[];
}

/** A JSON answer written as Express writes it: the API's headers, then the body with its type and length (and, `etag`, Express's weak ETag). */
export interface FastAnswers {
  send(res: ServerResponse, status: number, body: Buffer): void;
  json(res: ServerResponse, status: number, value: unknown): void;
  sendRejection(res: ServerResponse, rejection: Rejection): void;
}

/**
 * `etag`: the weak ETag Express's res.send adds to every answer with a body (the etag package, as
 * Express computes it), so that an answer is the same byte for byte whichever path wrote it.
 */
export function fastAnswers(common: FastPathCommon, options: { readonly etag: boolean }): FastAnswers {
  const send = (res: ServerResponse, status: number, body: Buffer) => {
    for (const change of common.securityHeaders) {
      if (change[0] === 'set') res.setHeader(change[1], change[2]);
      else res.removeHeader(change[1]);
    }
    res.setHeader('cache-control', 'no-store');
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', body.length);
    if (options.etag) res.setHeader('etag', etag(body, { weak: true }));
    res.statusCode = status;
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, Buffer.from(JSON.stringify(value)));
  return { send, json, sendRejection: (res, rejection) => json(res, rejectionStatus(rejection), rejectionBody(rejection)) };
}

