import net from 'node:net';
import fs from 'node:fs';
const bytes = new Map();
const origWrite = net.Socket.prototype.write;
net.Socket.prototype.write = function (chunk, ...rest) {
  const port = this.remotePort ?? 'unix';
  const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk?.length ?? 0;
  const e = bytes.get(port) ?? { n: 0, calls: 0 }; e.n += n; e.calls++; bytes.set(port, e);
  return origWrite.call(this, chunk, ...rest);
};
const dump = () => fs.writeFileSync(`/tmp/bytes-${process.pid}.txt`, [...bytes].map(([p, e]) => `${p}\t${e.calls}\t${e.n}`).join('\n'));
setInterval(dump, 1000).unref();
process.on('exit', dump);
