// Rejections → HTTP. Bodies carry the stable code and a human message, never a stack.
import type { Response } from 'express';
import { rowProblemOf } from '../../domain/batch-document.js';
import { errorCodes, type Rejection } from '../../domain/errors.js';

export function sendRejection(res: Response, rejection: Rejection): void {
  res.status(rejectionStatus(rejection)).json(rejectionBody(rejection));
}

/** The HTTP status of a rejection. */
export const rejectionStatus = (rejection: Rejection): number => errorCodes[rejection.code].status;

/** A rejection's body, as every answer of the API carries it. */
export function rejectionBody(rejection: Rejection): { error: Record<string, unknown> } {
  const entry = errorCodes[rejection.code];
  return {
    error: {
      code: rejection.code,
      message: entry.message,
      ...(rejection.detail ? { detail: rejection.detail } : {}),
      // Row errors as they are shown: rows numbered from 1, each with its sentence.
      ...(rejection.errors ? { errors: rejection.errors.map(rowProblemOf) } : {}),
      ...(rejection.lines ? { lines: rejection.lines } : {}),
      ...(rejection.badLines !== undefined ? { badLines: rejection.badLines } : {}),
    },
  };
}
