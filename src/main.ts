#!/usr/bin/env node
// Entry point of the `tuma` command. An unhandled rejection is a bug: crash loudly.
import { runCli } from './cli/tuma.js';

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`tuma: unhandled rejection, exiting: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  process.exit(70);
});

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tuma: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
