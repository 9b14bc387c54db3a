// node dist/loadtest/cpuprofile-top.js <file.cpuprofile> [frames] — where a V8 CPU profile (from
// `node --cpu-prof`, e.g. LOADTEST_CPU_PROF=<dir> npm run loadtest) spent its time: self time by
// package (node_modules/<name>, Node's internals, Tuma's src/, the garbage collector, idle) and the
// top frames by self time. Prints markdown tables for loadtest/README.md.
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** The group a frame's self time is counted in. */
export function groupOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[url.startsWith('node:internal') ? 1 : 0]}`;
  const src = /\/dist\/(src|loadtest)\/([^/]+)/.exec(url);
  if (src) return `tuma ${src[1]}/${src[2]}`;
  return url;
}

function main(): void {
  const [file, framesArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpuprofile-top <file.cpuprofile> [frames]');
  const top = Number(framesArg ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const groups = new Map<string, number>();
  const frames = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    total += us;
    if (f.functionName === '(idle)') idle += us;
    const g = groupOf(f);
    groups.set(g, (groups.get(g) ?? 0) + us);
    const name = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();
    frames.set(name, (frames.get(name) ?? 0) + us);
  }
  const busy = total - idle;
  const s = (us: number) => (us / 1e6).toFixed(2);
  const pct = (us: number) => ((100 * us) / busy).toFixed(1);
  process.stdout.write(`profile ${file}: ${s(profile.endTime - profile.startTime)} s wall, ${s(busy)} s on the CPU (idle ${s(idle)} s)\n\n`);
  process.stdout.write('| group (self time) | s | % of busy |\n|---|---:|---:|\n');
  for (const [g, us] of [...groups].filter(([g]) => g !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`| ${g} | ${s(us)} | ${pct(us)} |\n`);
  process.stdout.write('\n| frame (self time) | s | % of busy |\n|---|---:|---:|\n');
  for (const [f, us] of [...frames].filter(([f]) => !f.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`| \`${f}\` | ${s(us)} | ${pct(us)} |\n`);
}

main();
