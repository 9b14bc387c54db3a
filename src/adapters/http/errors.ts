// Rejections → HTTP. Bodies carry the stable code and a human message, never a stack.
import type { Response } from 'express';
import { errorCodes, type Rejection } from '../../domain/errors.js';

export function sendRejection(res: Response, rejection: Rejection): void {
  const entry = errorCodes[rejection.code];
  res.status(entry.status).json({
    error: {
      code: rejection.code,
      message: entry.message,
      ...(rejection.detail ? { detail: rejection.detail } : {}),
      ...(rejection.errors ? { errors: rejection.errors } : {}),
      ...(rejection.lines ? { lines: rejection.lines } : {}),
      ...(rejection.badLines !== undefined ? { badLines: rejection.badLines } : {}),
    },
  });
}
