// One JSON object per line, so log shippers need no parser of their own.
export type Log = (entry: Record<string, unknown>) => void;

export const jsonLinesLog =
  (stream: NodeJS.WritableStream = process.stdout): Log =>
  (entry) =>
    void stream.write(JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
