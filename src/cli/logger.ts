// Structured JSON logs. Beneficiary data never reaches a log: the code never passes it, and these
// paths are redacted as a second line of defence.
import { pino, type Logger } from 'pino';

export function createLogger(level: string, name = 'tuma'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['msisdn', '*.msisdn', 'PartyB', '*.PartyB', 'authorization', '*.authorization', 'headers.authorization', 'password', '*.password'],
      censor: '[redacted]',
    },
  });
}
