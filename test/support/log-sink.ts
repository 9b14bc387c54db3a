// Every log line a test's logger writes, kept in memory (one string per line, as written).
import { Writable } from 'node:stream';

export function logSink(): { readonly lines: string[]; readonly stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.length > 0) lines.push(line);
      done();
    },
  });
  return { lines, stream };
}
