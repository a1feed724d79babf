// What the figures were measured on: cores, memory, CPU model, kernel, versions, load.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { temporalCliPath } from '../scripts/temporal-cli.js';

export interface Machine {
  nproc: number;
  memGiB: number;
  cpuModel: string;
  kernel: string;
  node: string;
  temporal: string;
  postgres: string;
}

const firstLine = (file: string, args: string[]): string => {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]!
      .trim();
  } catch {
    return 'unknown';
  }
};

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? NaN);
  return {
    nproc: Number(firstLine('nproc', [])) || availableParallelism(),
    memGiB: Math.round((kb / 1024 / 1024) * 10) / 10,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    kernel: `${firstLine('uname', ['-s'])} ${release()}`,
    node: process.version,
    temporal: firstLine(temporalCliPath(), ['--version']),
    postgres: firstLine('/usr/lib/postgresql/15/bin/postgres', ['--version']),
  };
}

export const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** The command as typed: `npm run bench -- ...` when npm ran us, else the node command line. */
export function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node --import tsx bench/run.ts${args ? ` ${args}` : ''}`;
}
