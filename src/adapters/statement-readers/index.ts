// The statement readers by container (issue #14 item 1): each turns a file that is not CSV into
// the CSV lines its mapping declares, streamed, so that the importer copies every format alike.
// A GSMA statement is not uploaded but pulled (adapters/providers/gsma/gsma-statement.ts), and
// the pull writes the entries CSV itself: its container has no reader of bytes here.
import type { ImportStatementDeps } from '../../application/reconcile.js';
import { createCamt053Reader } from './camt053-reader.js';
import { createMt940Reader } from './mt940-reader.js';
import { createXlsxReader } from './xlsx-reader.js';

export const statementReaders: NonNullable<ImportStatementDeps['readers']> = {
  xlsx: (format) => createXlsxReader(format),
  mt940: (format) => createMt940Reader(format),
  camt053: (format) => createCamt053Reader(format),
};
