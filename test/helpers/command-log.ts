// The worker's command log (POLAR_COMMAND_LOG): one JSON line per command that acted on a host,
// written just before the command runs, with the worker's pid. Tests read it to prove what ran,
// where, by which worker process, and how often.
import { existsSync, readFileSync, statSync } from 'node:fs';

export interface CommandEntry {
  at: string;
  pid: number;
  host: string;
  command: string;
}

/** The log's size now: entries after this offset belong to what happens next. */
export const logOffset = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

/** Every entry from byte `from` on (whole lines only). */
export function readCommandLog(file: string, from = 0): CommandEntry[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file).subarray(from).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as CommandEntry];
      } catch {
        return []; // a line being written right now
      }
    });
}

/** `host: command`, as a step's `commands` in the report render it. */
export const lineOf = (e: Pick<CommandEntry, 'host' | 'command'>): string => `${e.host}: ${e.command}`;

/**
 * Polls the log every few ms until an entry satisfies `pred`; returns it. Fast enough to act
 * while the command it names is still running (the line is written just before the command).
 */
export async function waitForCommand(
  file: string,
  from: number,
  pred: (e: CommandEntry) => boolean,
  timeoutMs = 60_000,
  what = 'a command',
): Promise<CommandEntry> {
  const deadline = Date.now() + timeoutMs;
  let size = -1;
  for (;;) {
    const now = logOffset(file);
    if (now !== size) {
      size = now;
      const hit = readCommandLog(file, from).find(pred);
      if (hit) return hit;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${file}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** How many entries match. */
export const countCommands = (entries: CommandEntry[], pred: (e: CommandEntry) => boolean): number => entries.filter(pred).length;
