// A V8 code cache for the CommonJS modules the worker loads (the Temporal SDK, rxjs, grpc-js,
// protobufjs, pg: about 800 files). Compiling them is about a quarter of a worker's start, and a
// killed worker's replacement is what a resumed recovery waits for. Node 22 has this built in
// (module.enableCompileCache); Node 20, our runtime, does not: this is the same idea, done the way
// v8-compile-cache did it, by compiling each module with vm.Script and its cached data.
//
// Imported for its effect, FIRST, by the worker's entry (ES modules run in import order, so every
// CommonJS module after it compiles through here). The cache is one file in dist/.compile-cache/,
// beside the code it caches: whoever can write there can already change the code, so a cache file
// is never more trusted than the code (a world-writable tmp directory would be). `npm run build`
// writes it (scripts/warm-compile-cache.ts); a worker that compiled anything new rewrites it when
// it can write there. An entry is used only for the same file with the same content (SHA-1) and
// the same Node; V8 itself rejects data from another V8 or other flags. Only the compiled worker
// (dist/) uses it, not the sources run through tsx. POLAR_COMPILE_CACHE: off, or another file.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

/** The part of Node's CommonJS loader this replaces (not in @types/node: it is internal, but stable since Node 0.x). */
interface CjsModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string): unknown;
}
interface CjsLoader {
  prototype: CjsModule;
  wrap(content: string): string;
  _resolveFilename(request: string, parent: CjsModule, isMain: boolean, options?: { paths?: string[] }): string;
  _resolveLookupPaths(request: string, parent: CjsModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}

const setting = process.env.POLAR_COMPILE_CACHE;
export const compileCacheFile =
  setting && setting !== 'off'
    ? setting
    : join(fileURLToPath(new URL('../.compile-cache/', import.meta.url)), `${process.platform}-${process.arch}-node${process.version}.bin`);
const enabled = setting !== 'off' && (setting !== undefined || import.meta.url.endsWith('.js'));

const MAGIC = 'polar-runbook compile cache 1\n';
const MAY_IMPORT = /\bimport\s*\(/;
const keyOf = (content: string) => createHash('sha1').update(content).digest('hex');

/** File -> [content hash, V8 cached data], from the cache file (empty when there is none or it is unreadable). */
function readCache(file: string): Map<string, [string, Buffer]> {
  const entries = new Map<string, [string, Buffer]>();
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return entries;
  }
  if (buf.toString('utf8', 0, MAGIC.length) !== MAGIC) return entries;
  // Each entry: u32 length + "file\0hash", u32 length + data. A damaged file keeps what is whole before the damage.
  for (let at = MAGIC.length; at + 4 <= buf.length;) {
    const nameEnd = at + 4 + buf.readUInt32LE(at);
    if (nameEnd + 4 > buf.length) break;
    const [name, hash] = buf.toString('utf8', at + 4, nameEnd).split('\0');
    const dataEnd = nameEnd + 4 + buf.readUInt32LE(nameEnd);
    if (!name || !hash || dataEnd > buf.length) break;
    entries.set(name, [hash, buf.subarray(nameEnd + 4, dataEnd)]);
    at = dataEnd;
  }
  return entries;
}

/** What this process compiled: file -> [content hash, its script]. */
const compiled = new Map<string, [string, vm.Script]>();
let misses = 0;

/** How many of the cacheable CommonJS modules loaded so far came from the cache (a slow start says why). */
export const compileCacheStats = (): { enabled: boolean; modules: number; fromCache: number } => ({
  enabled,
  modules: compiled.size,
  fromCache: compiled.size - misses,
});

function enable(file: string): void {
  const cache = readCache(file);
  const loader = Module as unknown as CjsLoader;
  // Node's own _compile, minus what the worker never uses (policy manifests, --inspect-brk on the
  // first line, source maps of CommonJS files): wrap, compile, run with the module's own require.
  const compile = (mod: CjsModule, content: string, filename: string): unknown => {
    // A script made from cached data loses its import() hook in Node 20 (import() then throws
    // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING): a module that may call import() always compiles.
    // Such a module is never stored, so a hit needs no second look (the search costs ~10 ms a start).
    const hash = keyOf(content);
    const stored = cache.get(filename);
    const hit = stored?.[0] === hash ? stored : undefined;
    const cacheable = hit !== undefined || !MAY_IMPORT.test(content);
    const script = new vm.Script(loader.wrap(content), {
      filename,
      cachedData: hit?.[1],
      // import() inside a CommonJS module resolves as it would without the cache.
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (cacheable) {
      if (!hit || script.cachedDataRejected) misses++;
      compiled.set(filename, [hash, script]);
    }
    const require = Object.assign((id: string) => mod.require(id), {
      resolve: Object.assign((request: string, options?: { paths?: string[] }) => loader._resolveFilename(request, mod, false, options), {
        paths: (request: string) => loader._resolveLookupPaths(request, mod),
      }),
      main: (process as { mainModule?: unknown }).mainModule,
      extensions: loader._extensions,
      cache: loader._cache,
    });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(mod.exports, mod.exports, require, mod, filename, dirname(filename));
  };
  loader.prototype._compile = function (this: CjsModule, content: string, filename: string) {
    return compile(this, content, filename);
  };
}

/**
 * Writes the cache again when this process compiled something it did not have (a first start, an
 * upgrade): the data V8 makes after the modules ran covers the functions they called too. Costs
 * about 0.1 s of this thread, once. A cache that cannot be written (a read-only image) is left as is.
 */
export function saveCompileCache(): { written: boolean; modules: number; reason?: string } {
  if (!enabled) return { written: false, modules: 0, reason: 'the cache is off (POLAR_COMPILE_CACHE=off, or not the compiled code)' };
  if (misses === 0) return { written: false, modules: compiled.size, reason: 'nothing new compiled' };
  const parts: Buffer[] = [Buffer.from(MAGIC)];
  for (const [name, [hash, script]] of compiled) {
    const key = Buffer.from(`${name}\0${hash}`);
    const data = script.createCachedData();
    const head = Buffer.alloc(4);
    head.writeUInt32LE(key.length);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(data.length);
    parts.push(head, key, size, data);
  }
  try {
    mkdirSync(dirname(compileCacheFile), { recursive: true });
    const tmp = `${compileCacheFile}.${process.pid}`;
    writeFileSync(tmp, Buffer.concat(parts));
    renameSync(tmp, compileCacheFile); // whole or not at all: another worker may be reading it
  } catch (err) {
    return { written: false, modules: compiled.size, reason: (err as Error).message };
  }
  misses = 0;
  return { written: true, modules: compiled.size };
}

if (enabled) enable(compileCacheFile);
