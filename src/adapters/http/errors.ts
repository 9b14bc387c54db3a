// Rejections → HTTP. Bodies carry the stable code and a human message, never a stack.
import type { Response } from 'express';
import { rowProblemOf } from '../../domain/batch-document.js';
import { errorCodes, type Rejection } from '../../domain/errors.js';

export function sendRejection(res: Response, rejection: Rejection): void {
  const entry = errorCodes[rejection.code];
  res.status(entry.status).json({
    error: {
      code: rejection.code,
      message: entry.message,
      ...(rejection.detail ? { detail: rejection.detail } : {}),
      // Row errors as they are shown: rows numbered from 1, each with its sentence.
      ...(rejection.errors ? { errors: rejection.errors.map(rowProblemOf) } : {}),
      ...(rejection.lines ? { lines: rejection.lines } : {}),
      ...(rejection.badLines !== undefined ? { badLines: rejection.badLines } : {}),
    },
  });
}
