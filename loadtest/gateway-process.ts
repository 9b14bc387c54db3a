// Tuma's roles in a process of their own, for `npm run loadtest` (issue #17 item 2): the same
// startRuntime as `tuma start` / `tuma <role>`, with the roles its parent names (never the
// simulator: that runs apart, sim-process.ts) and the environment it sends over IPC, logging at
// warn to stderr (a role process of `tuma` logs every request at info; here that would be
// measured too). Answers {type:'ready', apiUrl}; stops its roles in order and exits when the parent
// disconnects, so that `node --cpu-prof` writes its profile.
import { pino } from 'pino';
import { startRuntime, type Role } from '../src/cli/runtime.js';
import { loadConfig, type Env } from '../src/config/config.js';

interface Settings {
  readonly roles: readonly Role[];
  readonly env: Env;
}

process.once('message', (settings: Settings) => {
  void (async () => {
    const config = loadConfig(settings.env);
    const logger = pino({ level: config.logLevel }, pino.destination({ fd: 2, sync: false }));
    const runtime = await startRuntime(config, new Set(settings.roles), logger, { consoleDir: null });
    process.send?.({ type: 'ready', apiUrl: runtime.apiUrl });
    process.once('disconnect', () => {
      const timer = setTimeout(() => process.exit(1), 60_000);
      timer.unref();
      void runtime.stop().finally(() => process.exit(0));
    });
  })().catch((error: unknown) => {
    process.stderr.write(`gateway process (${settings.roles.join(',')}) failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
});
