// docker-compose.yml, the Dockerfile and deploy/ checked against the code they deploy: the services,
// ports, mounts, env vars and search attributes must match what the worker and the webhook read.
// Static only: no Docker engine needed (`docker compose config` runs only where the plugin exists).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { parseConfig } from '../client/webhook/config.js';
import { readSpecFile } from '../lib/spec-file.js';
import { TEMPORAL_ENV_VARS } from '../client/temporal-config.js';
import { searchAttributeKeys } from '../lib/model/search-attributes.js';
import { devServerTuningArgs, SERVER_TUNING } from '../lib/server-tuning.js';

const ROOT = resolve(import.meta.dirname, '..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

type StringMap = Record<string, string | number | boolean | null>;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: StringMap | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  secrets?: (string | { source: string; target?: string })[];
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

// Merge keys (`<<: *anchor`) as compose resolves them.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services;
const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; devDependencies?: Record<string, string> };

const DOCUMENTED = ['postgresql', 'temporal', 'temporal-search-attributes', 'temporal-ui', 'worker', 'webhook'];
const INIT = 'temporal-search-attributes';

const service = (name: string): Service => {
  const s = services[name];
  assert.ok(s, `service ${name} is missing`);
  return s;
};

/** Environment as a map, from either compose syntax. */
function envOf(s: Service): Record<string, string> {
  if (!s.environment) return {};
  if (Array.isArray(s.environment))
    return Object.fromEntries(
      s.environment.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }),
    );
  return Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** The container ports a service publishes on the host. */
function publishedTargets(s: Service): number[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.target);
    // [ip:][hostPort:]containerPort[/proto]; the ip may be an IPv6 literal in brackets.
    const last = String(p)
      .replace(/\/(tcp|udp)$/, '')
      .split(':')
      .at(-1)!;
    return Number(last);
  });
}

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}
function mountsOf(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'object') return { source: v.source ?? '', target: v.target ?? '', bind: v.type === 'bind' };
    const [source = '', target = ''] = v.split(':');
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') || source.startsWith('~') };
  });
}

const dependsOn = (s: Service): Record<string, string | undefined> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((d) => [d, undefined]))
    : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([d, o]) => [d, o?.condition]));

const argv = (c: string | string[] | undefined): string[] => (c === undefined ? [] : Array.isArray(c) ? c : c.split(/\s+/));

/** The npm script a command runs (`npm run <script>`), if it is one. */
function npmScript(c: string[]): string | undefined {
  const i = c.indexOf('npm');
  return i >= 0 && c[i + 1] === 'run' ? c[i + 2] : undefined;
}

/** Compose unescapes `$$` to `$` in the files it reads. */
const unescape = (s: string): string => s.replaceAll('$$', '$');

describe('docker-compose.yml', () => {
  test('has exactly the documented services', () => {
    assert.deepEqual(Object.keys(services).sort(), [...DOCUMENTED].sort());
  });

  test('publishes Temporal on 7233, the Web UI on 8080 and the webhook on 9095', () => {
    assert.ok(publishedTargets(service('temporal')).includes(7233));
    assert.ok(publishedTargets(service('temporal-ui')).includes(8080));
    assert.ok(publishedTargets(service('webhook')).includes(9095));
    // Nothing else publishes a port: Temporal's PostgreSQL and the worker stay on the compose network.
    for (const name of ['postgresql', INIT, 'worker']) assert.deepEqual(publishedTargets(service(name)), [], name);
  });

  test('every depends_on target exists, with a condition compose knows', () => {
    const conditions = new Set([undefined, 'service_started', 'service_healthy', 'service_completed_successfully']);
    for (const [name, s] of Object.entries(services))
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        assert.ok(services[dep], `${name} depends on ${dep}, which is not a service`);
        assert.ok(conditions.has(condition), `${name} -> ${dep}: unknown condition ${condition}`);
        if (condition === 'service_healthy')
          assert.ok(services[dep]!.healthcheck, `${name} waits for ${dep} to be healthy, which has no healthcheck`);
      }
  });

  test('starts in order: database, server, search attributes, then the worker and the webhook', () => {
    assert.equal(dependsOn(service('temporal')).postgresql, 'service_healthy');
    assert.equal(dependsOn(service(INIT)).temporal, 'service_healthy');
    assert.equal(dependsOn(service('temporal-ui')).temporal, 'service_healthy');
    // Both start workflows that carry the search attributes: those must be registered first.
    for (const name of ['worker', 'webhook']) assert.equal(dependsOn(service(name))[INIT], 'service_completed_successfully', name);
  });

  test('healthchecks on postgresql, temporal and webhook', () => {
    for (const name of ['postgresql', 'temporal', 'webhook']) {
      const h = service(name).healthcheck;
      assert.ok(h && !h.disable && h.test && argv(h.test).length > 1, `${name} has no healthcheck`);
    }
    assert.match(argv(service('postgresql').healthcheck!.test).join(' '), /pg_isready/);
    assert.match(argv(service('temporal').healthcheck!.test).join(' '), /temporal operator cluster health --address temporal:7233/);
    assert.match(argv(service('webhook').healthcheck!.test).join(' '), /http:\/\/127\.0\.0\.1:9095\/healthz/);
  });

  test('worker and webhook are built from this repository', () => {
    for (const name of ['worker', 'webhook']) {
      const b = service(name).build;
      const context = typeof b === 'string' ? b : b?.context;
      assert.ok(context === '.' || context === './', `${name} builds from ${context}`);
      assert.ok(typeof b === 'string' || b?.dockerfile === undefined || b.dockerfile === 'Dockerfile');
    }
  });

  test('third-party images are pinned', () => {
    const expected: Record<string, RegExp> = {
      postgresql: /^postgres:16(\.|$)/,
      temporal: /^temporalio\/auto-setup:1\.(2[5-9]|[3-9]\d)/,
      [INIT]: /^temporalio\/admin-tools:\d/,
      'temporal-ui': /^temporalio\/ui:\d/,
    };
    for (const [name, re] of Object.entries(expected)) assert.match(service(name).image ?? '', re, name);
  });

  test('temporal runs on postgresql with the credentials postgresql was given', () => {
    const t = envOf(service('temporal'));
    const pg = envOf(service('postgresql'));
    assert.equal(t.DB, 'postgres12');
    assert.equal(t.POSTGRES_SEEDS, 'postgresql');
    assert.equal(t.POSTGRES_USER, pg.POSTGRES_USER);
    assert.equal(t.POSTGRES_PWD, pg.POSTGRES_PASSWORD);
    assert.ok(
      mountsOf(service('postgresql')).some((m) => !m.bind && m.target === '/var/lib/postgresql/data'),
      'a named volume for the data',
    );
  });

  test('the init service registers exactly the search attributes of lib/model/search-attributes.ts', () => {
    const s = service(INIT);
    const script = unescape([...argv(s.entrypoint), ...argv(s.command)].join('\n'));
    const registered = [...script.matchAll(/^\s*ensure\s+(\S+)\s+(\S+)\s*$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
    assert.deepEqual(registered.map((r) => r.name).sort(), searchAttributeKeys.map((k) => k.name).sort());
    for (const r of registered) {
      const key = searchAttributeKeys.find((k) => k.name === r.name)!;
      assert.equal(r.type.toUpperCase(), key.type, `${r.name}: registered as ${r.type}, the code says ${key.type}`);
    }
    assert.match(script, /temporal operator search-attribute create/);
    assert.match(script, /--address temporal:7233/);
    // A one-shot job: restarting it would keep compose from seeing it complete.
    assert.ok(s.restart === undefined || s.restart === 'no');
  });

  test('the worker and the webhook set only env vars the code reads', () => {
    const sources = [
      'workers/worker.ts',
      ...readdirSync(join(ROOT, 'client/webhook'))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `client/webhook/${f}`),
    ].map(read);
    const readByCode = (name: string) =>
      // The Temporal connection settings are read by @temporalio/envconfig (client/temporal-config.ts).
      (TEMPORAL_ENV_VARS as readonly string[]).includes(name) ||
      sources.some((src) => new RegExp(`\\b(process\\.env|vars)\\.${name}\\b|\\[['"]${name}['"]\\]`).test(src));
    // Secrets a mounted config names by env var (connection.passwordEnv, auth.*.tokenEnv / secretEnv).
    const configs = [read('deploy/webhook.yaml'), ...specFiles().map((f) => readFileSync(f, 'utf8'))];
    const namedByConfig = (name: string) => configs.some((c) => new RegExp(`(passwordEnv|tokenEnv|secretEnv):\\s*['"]?${name}\\b`).test(c));
    for (const name of ['worker', 'webhook'])
      for (const key of Object.keys(envOf(service(name))))
        assert.ok(readByCode(key) || namedByConfig(key), `${name} sets ${key}, which neither the code nor a config reads`);
  });

  test('two worker replicas: a surviving one takes over the step of a killed one', () => {
    const deploy = (service('worker') as Service & { deploy?: { replicas?: number } }).deploy;
    assert.equal(deploy?.replicas, 2);
  });

  test('the worker is pointed at the temporal service and the mounted specs', () => {
    const env = envOf(service('worker'));
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
    const clusters = mountsOf(service('worker')).find((m) => m.source.replace(/\/$/, '') === './deploy/clusters');
    assert.ok(clusters, './deploy/clusters is mounted into the worker');
    assert.equal(env.POLAR_CLUSTERS_DIR, clusters.target);
    assert.ok(mountsOf(service('worker')).some((m) => m.source === './deploy/ssh' && m.target === '/etc/polar-runbook/ssh'));
    // The command log lives on a named volume, so it outlives the container.
    const log = env.POLAR_COMMAND_LOG;
    assert.ok(log && mountsOf(service('worker')).some((m) => !m.bind && log.startsWith(`${m.target}/`)), 'command log on a volume');
  });

  test('every bind mount comes from ./deploy and exists in the repository', () => {
    for (const [name, s] of Object.entries(services))
      for (const m of mountsOf(s).filter((x) => x.bind)) {
        const rel = relative(ROOT, resolve(ROOT, m.source));
        assert.ok(rel === 'deploy' || rel.startsWith('deploy/'), `${name} mounts ${m.source}, outside ./deploy`);
        assert.ok(existsSync(join(ROOT, rel)), `${name} mounts ${m.source}, which is not in the repository`);
      }
  });

  test('every mount is read-only except the named volumes', () => {
    for (const [name, s] of Object.entries(services))
      for (const v of s.volumes ?? []) if (typeof v === 'string' && v.startsWith('.')) assert.match(v, /:ro$/, `${name}: ${v}`);
  });

  test('named volumes and secrets are declared; secrets stay out of git', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of mountsOf(s).filter((x) => !x.bind))
        assert.ok(m.source in (compose.volumes ?? {}), `${name}: volume ${m.source} undeclared`);
      for (const sec of s.secrets ?? []) {
        const id = typeof sec === 'string' ? sec : sec.source;
        assert.ok(compose.secrets?.[id], `${name}: secret ${id} undeclared`);
      }
    }
    for (const [id, sec] of Object.entries(compose.secrets ?? {})) {
      const rel = relative(ROOT, resolve(ROOT, sec.file ?? ''));
      assert.ok(rel.startsWith('deploy/secrets/'), `secret ${id} is read from ${sec.file}, not from ./deploy/secrets`);
      assert.match(read('deploy/secrets/.gitignore'), /^\*$/m, 'deploy/secrets/.gitignore ignores everything');
    }
  });
});

/** The cluster specs and examples under deploy/clusters. */
function specFiles(): string[] {
  const dir = join(ROOT, 'deploy/clusters');
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)(\.example)?$/.test(f))
    .map((f) => join(dir, f));
}

describe('deploy/', () => {
  test("Temporal gets polar-runbook's latency settings: the dynamic config file, the dev server unit, the README", () => {
    const temporal = service('temporal');
    const mount = mountsOf(temporal).find((m) => m.source === './deploy/temporal/dynamicconfig.yaml');
    assert.ok(mount, 'the dynamic config file is mounted into temporal');
    // auto-setup reads DYNAMIC_CONFIG_FILE_PATH relative to /etc/temporal.
    assert.equal(`/etc/temporal/${envOf(temporal).DYNAMIC_CONFIG_FILE_PATH}`, mount.target);
    const file = parse(read('deploy/temporal/dynamicconfig.yaml')) as Record<string, { value: unknown }[]>;
    assert.deepEqual(Object.fromEntries(Object.entries(file).map(([k, v]) => [k, v[0]!.value])), SERVER_TUNING);
    const flags = devServerTuningArgs.filter((a) => a !== '--dynamic-config-value');
    for (const f of flags) {
      // As a shell and systemd take it: a JSON string value in single quotes, its double quotes kept.
      const flag = f.includes('"') ? `--dynamic-config-value '${f}'` : `--dynamic-config-value ${f}`;
      assert.ok(read('deploy/systemd/temporal-dev.service').includes(flag), `temporal-dev.service sets ${f}`);
      assert.ok(read('README.md').includes(flag), `the README's dev server sets ${f}`);
    }
  });

  test('the webhook config is valid and matches the compose service', () => {
    const webhook = service('webhook');
    const env = envOf(webhook);
    const mount = mountsOf(webhook).find((m) => m.source === './deploy/webhook.yaml');
    assert.ok(mount, './deploy/webhook.yaml is mounted into the webhook');
    assert.equal(env.POLAR_WEBHOOK_CONFIG, mount.target);

    const doc = parse(read('deploy/webhook.yaml')) as { auth: { bearer?: { tokenFile?: string } } };
    // The token is a compose secret of this service.
    const tokenFile = doc.auth.bearer?.tokenFile;
    const secrets = (webhook.secrets ?? []).map((s) =>
      typeof s === 'string' ? `/run/secrets/${s}` : (s.target ?? `/run/secrets/${s.source}`),
    );
    assert.ok(tokenFile && secrets.includes(tokenFile), `tokenFile ${tokenFile} is not one of the service's secrets ${secrets}`);

    const dir = mkdtempSync(join(tmpdir(), 'polar-compose-'));
    try {
      writeFileSync(join(dir, 'token'), 'test-token\n');
      doc.auth.bearer!.tokenFile = join(dir, 'token');
      const config = parseConfig(doc, { TEMPORAL_NAMESPACE: 'ns-from-env' });
      // Reachable through the published port, from the healthcheck and from outside the container.
      assert.equal(config.listen.host, '0.0.0.0');
      assert.ok(publishedTargets(webhook).includes(config.listen.port));
      assert.equal(config.temporal.address, 'temporal:7233');
      assert.equal(config.temporal.namespace, 'ns-from-env', 'the namespace comes from the compose environment');
      assert.equal(config.auth.bearerToken, 'test-token');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('cluster specs and examples there are valid, and none uses the local transport', () => {
    assert.ok(statSync(join(ROOT, 'deploy/clusters')).isDirectory());
    assert.ok(existsSync(join(ROOT, 'deploy/clusters/README.md')));
    for (const f of specFiles()) {
      const spec = readSpecFile(f);
      for (const n of spec.nodes) assert.notEqual(n.host.transport, 'local', `${f}: node ${n.name} would act on the worker's container`);
    }
  });

  test('the READMEs are there', () => {
    for (const f of ['deploy/clusters/README.md', 'deploy/ssh/README.md', 'deploy/secrets/README.md'])
      assert.ok(existsSync(join(ROOT, f)), f);
    assert.match(read('deploy/ssh/.gitignore'), /^\*$/m, 'no private key gets committed');
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  // Instructions with their continuation lines joined, comments dropped.
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const last = (op: string) => instructions.filter((l) => l.toUpperCase().startsWith(`${op} `)).at(-1);
  const execForm = (l: string | undefined): string[] => (l ? (JSON.parse(l.slice(l.indexOf(' ') + 1)) as string[]) : []);

  test('builds on node:20-bookworm-slim with the ssh client', () => {
    assert.match(last('FROM') ?? '', /^FROM node:20-bookworm-slim\b/);
    assert.match(dockerfile, /apt-get install[^\n]*openssh-client/);
  });

  test('installs the devDependencies the npm scripts run with (tsx)', () => {
    assert.ok(pkg.devDependencies?.tsx, 'tsx is a devDependency');
    for (const name of ['worker', 'webhook']) assert.match(pkg.scripts[name]!, /--import tsx/);
    assert.match(pkg.scripts.build!, /\btsc\b/, 'npm run build compiles with tsc (a devDependency)');
    const install = instructions.find((l) => /\bnpm (ci|install)\b/.test(l));
    assert.ok(install, 'the Dockerfile installs the dependencies');
    assert.doesNotMatch(install, /--omit[= ]dev|--production|--only[= ]prod/, 'tsx would be missing');
    assert.doesNotMatch(dockerfile, /NODE_ENV[= ]production/, 'npm ci would leave the devDependencies out');
    // From the lock file, copied in before the install.
    const copyLock = instructions.findIndex((l) => /^COPY\b.*\bpackage-lock\.json\b/.test(l));
    assert.ok(copyLock >= 0 && copyLock < instructions.indexOf(install) && /\bnpm ci\b/.test(install));
  });

  test('CMD and the compose commands run the compiled worker the image builds, and npm scripts that exist', () => {
    const cmd = execForm(last('CMD'));
    // The worker: compiled, with the workflow bundle prebuilt (npm run build, in the image).
    const compiled = ['node', 'dist/workers/worker.js'];
    assert.deepEqual(cmd, compiled);
    assert.deepEqual(argv(service('worker').command), compiled);
    const build = instructions.findIndex((l) => /^RUN npm run build$/.test(l));
    assert.ok(build > instructions.findIndex((l) => /^COPY \. \.$/.test(l)), 'the image runs npm run build after copying the sources');
    assert.ok(build < instructions.findIndex((l) => /^USER /.test(l)), 'built before dropping to the node user');
    assert.match(pkg.scripts.build!, /bundle-workflows/, 'npm run build bundles the workflow code');
    assert.equal(npmScript(argv(service('webhook').command)), 'webhook');
    assert.ok(pkg.scripts.webhook, 'npm run webhook exists');
    // The entrypoint is an init that hands the command over unchanged.
    assert.deepEqual(execForm(last('ENTRYPOINT')), ['/usr/bin/tini', '--']);
  });

  test('runs as a non-root user', () => {
    assert.match(last('USER') ?? '', /^USER (node|\d{3,})$/);
  });

  test('.dockerignore keeps node_modules, .git and local state out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const p of ['node_modules', '.git', '.lab', 'deploy']) assert.ok(ignored.includes(p), p);
  });
});

// Only where the compose plugin is installed; it needs no engine for `config`.
const composeAvailable = await execa('docker', ['compose', 'version'], { reject: false }).then(
  (r) => r.exitCode === 0,
  () => false,
);
test('docker compose config accepts the file', { skip: composeAvailable ? false : 'docker compose is not installed' }, async () => {
  const r = await execa('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--quiet'], { cwd: ROOT, reject: false });
  assert.equal(r.exitCode, 0, String(r.stderr));
});
