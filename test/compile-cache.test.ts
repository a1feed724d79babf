// The worker's compile cache (workers/compile-cache.ts): CommonJS modules loaded through it behave as
// Node loads them, come from the cache on the next start, and are compiled again when they change
// or when the cache file is damaged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const dir = mkdtempSync(join(tmpdir(), 'prb-compile-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Run as the compiled worker runs it: plain JavaScript in plain node (tsx has its own module hooks).
const cacheModule = join(dir, 'compile-cache.mjs');
const source = readFileSync(fileURLToPath(new URL('../workers/compile-cache.ts', import.meta.url)), 'utf8');
const compiled = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
writeFileSync(cacheModule, compiled.outputText);

const cacheFile = join(dir, 'cache.bin');
writeFileSync(join(dir, 'dep.cjs'), "module.exports = { word: 'first' };\n");
// A module that calls import() is never taken from the cache (Node 20 loses the hook there): it compiles every time.
writeFileSync(join(dir, 'lazy.cjs'), "exports.imported = import('node:path').then((p) => typeof p.join);\n");
// What a module sees of its loader: its names, require and require.resolve, `this`, stack traces.
writeFileSync(
  join(dir, 'main.cjs'),
  [
    "const dep = require('./dep.cjs');",
    'exports.seen = {',
    '  word: dep.word,',
    '  filename: __filename,',
    '  dirname: __dirname,',
    "  resolved: require.resolve('./dep.cjs'),",
    '  thisIsExports: this === module.exports,',
    '  cached: Object.keys(require.cache).some((f) => f.endsWith("dep.cjs")),',
    "  stackNamesFile: new Error('x').stack.split('\\n')[1].includes(__filename),",
    '};',
    "exports.imported = require('./lazy.cjs').imported;",
  ].join('\n'),
);

/** Loads main.cjs in a fresh process through the cache; what it saw, the cache's counts, and whether it wrote. */
function load(): {
  seen: Record<string, unknown>;
  imported: string;
  stats: { enabled: boolean; modules: number; fromCache: number };
  written: boolean;
} {
  const script = [
    `const { compileCacheStats, saveCompileCache } = await import(${JSON.stringify(cacheModule)});`,
    "const { createRequire } = await import('node:module');",
    `const main = createRequire(${JSON.stringify(join(dir, 'x.cjs'))})('./main.cjs');`,
    'const imported = await main.imported;',
    'const stats = compileCacheStats();',
    'const saved = saveCompileCache();',
    'console.log(JSON.stringify({ seen: main.seen, imported, stats, written: saved.written }));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
    env: { ...process.env, POLAR_COMPILE_CACHE: cacheFile },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('compile cache', () => {
  const expected = {
    word: 'first',
    filename: join(dir, 'main.cjs'),
    dirname: dir,
    resolved: join(dir, 'dep.cjs'),
    thisIsExports: true,
    cached: true,
    stackNamesFile: true,
  };

  test('a first start compiles and writes the cache; the next loads from it, and the modules behave the same', () => {
    const first = load();
    assert.deepEqual(first.seen, expected);
    assert.equal(first.imported, 'function', 'import() inside a CommonJS module works');
    assert.equal(first.stats.modules, 2, 'main.cjs and dep.cjs are cached, lazy.cjs (import()) is not');
    assert.deepEqual(first.stats, { enabled: true, modules: 2, fromCache: 0 });
    assert.equal(first.written, true);

    const second = load();
    assert.deepEqual(second.seen, expected);
    assert.equal(second.imported, 'function', 'import() still works on a start from the cache');
    assert.deepEqual(second.stats, { enabled: true, modules: 2, fromCache: 2 });
    assert.equal(second.written, false, 'nothing new: the cache is not written again');
  });

  test('a module whose file changed is compiled again, never run from the old code', () => {
    writeFileSync(join(dir, 'dep.cjs'), "module.exports = { word: 'second' };\n");
    const changed = load();
    assert.equal(changed.seen.word, 'second');
    assert.deepEqual(changed.stats, { enabled: true, modules: 2, fromCache: 1 });
    assert.equal(changed.written, true);
  });

  test('a damaged cache file is ignored: everything compiles as without it', () => {
    writeFileSync(cacheFile, 'polar-runbook compile cache 1\n\u00ff\u00ff\u00ff\u00ff garbage');
    const damaged = load();
    assert.equal(damaged.seen.word, 'second');
    assert.deepEqual(damaged.stats, { enabled: true, modules: 2, fromCache: 0 });
    assert.equal(load().stats.fromCache, 2, 'and the next start has it again');
  });
});
