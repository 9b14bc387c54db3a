// What the resource routers share: the async handler wrapper, path ids, body parsers and their limits.
import type { NextFunction, Request, Response } from 'express';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { reject, type Rejection } from '../../domain/errors.js';
import { err, ok, type Result } from '../../domain/result.js';
import { duplicateMemberDetail, hasDuplicateMember, jsonBody } from './json-body.js';

/** A provider callback is small; anything larger is not one. */
export const callbackBodyMaxBytes = 64 * 1024;
/** An unauthenticated callback naming no payout we know is small (Airtel's are about 200 bytes): larger ones are refused. */
export const unsignedOrphanBodyMaxBytes = 4 * 1024;
/** An approval is a protected header and one signature. */
export const approvalBodyMaxBytes = 16 * 1024;
/** Administrative bodies (a key registration, a policy, a cancel reason) are small. */
export const adminBodyMaxBytes = 16 * 1024;
/** A funding body is a few short fields. */
export const fundingBodyMaxBytes = 4 * 1024;
/** Statement lines read per query while streaming CSV. */
export const csvPageSize = 1_000;

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isoDay = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export const uuidParam = (raw: unknown): string | null => {
  const id = String(raw).toLowerCase();
  return uuidPattern.test(id) ? id : null;
};

export const oneString = (v: unknown): string | null | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : null);

type Handler = (req: Request, res: Response) => Promise<void>;
/** An async handler whose failure goes to the error handler. */
export const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

/** A raw JSON body (kept raw for JWS: the bytes matter), parsed once; a member name twice in one object is refused. */
export function jsonOf(body: unknown): Result<unknown, Rejection> {
  if (!Buffer.isBuffer(body)) return err(reject('REQUEST_UNSUPPORTED_MEDIA_TYPE', 'send application/jose+json or application/json'));
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return err(reject('REQUEST_MALFORMED', 'the body is not JSON'));
  }
  if (hasDuplicateMember(text)) return err(reject('REQUEST_MALFORMED', duplicateMemberDetail));
  return ok(value);
}

/** A small JSON body of any content type. */
export const smallJson = () => jsonBody({ limit: adminBodyMaxBytes, type: () => true });

/** An optional small JSON body: none at all is fine. */
export const optionalJson = jsonBody({ limit: adminBodyMaxBytes, type: (req) => Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined });

/** A funding body: a few short fields. */
export const fundingJson = () => jsonBody({ limit: fundingBodyMaxBytes, type: () => true });

/**
 * Streams an export to the client: a client that goes away ends the reads (the generator's
 * finally runs); an error after the headers destroys the response, so a broken download is never
 * taken for a short file.
 */
export async function sendReport(source: Readable, res: Response): Promise<void> {
  try {
    await pipeline(source, res);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw error;
  }
}
