// Runs one tollgate CLI command in this process and, at exit, reports its CPU time and peak
// memory on fd 3 (the reports benchmark's way to measure a command, not a shell around it).
import { writeSync } from 'node:fs';
import { main } from '../src/cli/main.js';

process.on('exit', () => {
  const r = process.resourceUsage();
  writeSync(3, JSON.stringify({ cpuS: (r.userCPUTime + r.systemCPUTime) / 1e6, maxRssMb: r.maxRSS / 1024 }) + '\n');
});
process.stdout.on('error', () => process.exit(0));
await main(process.argv);
