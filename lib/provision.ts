// A docker node's container, made when it is gone (seed steps 1-2: `docker run` of the replacement
// hosts). Idempotent: a running container is reused, a stopped one started; one of the same name
// with another image is an error and is never replaced or removed.
import type { ClusterSpec, DockerProvision, NodeSpec } from './model/spec.js';
import { failure } from './failures.js';
import { dockerClient } from './hosts/docker.js';
import { shellWord } from './hosts/types.js';
import type { Journal } from './ops.js';

/** The nodes whose spec says how to create their container. */
export const provisionedNodes = (spec: ClusterSpec): NodeSpec[] =>
  spec.nodes.filter((n) => n.host.transport === 'docker' && n.host.provision !== undefined);

/** `docker run -d …` for the container (the image's own command runs in it: tini and sleep in the lab's). */
export function dockerRunArgv(container: string, p: DockerProvision): string[] {
  return [
    'docker',
    'run',
    '-d',
    ...['--name', container, '--hostname', container],
    ...(p.network ? ['--network', p.network] : []),
    ...(p.ip ? ['--ip', p.ip] : []),
    ...p.volumes.flatMap((v) => ['-v', v]),
    ...p.capabilities.flatMap((c) => ['--cap-add', c]),
    ...p.devices.flatMap((d) => ['--device', d]),
    ...p.deviceCgroupRules.flatMap((r) => [`--device-cgroup-rule=${r}`]),
    ...p.securityOpts.flatMap((o) => ['--security-opt', o]),
    p.image,
  ];
}

export const dockerInspectArgv = (container: string): string[] => [
  'docker',
  'container',
  'inspect',
  '--format',
  '{{.Config.Image}} {{.State.Status}}',
  container,
];

const render = (argv: string[]) => `worker$ ${argv.map(shellWord).join(' ')}`;

async function cli(argv: string[], j: Journal | undefined, timeoutMs = 120_000) {
  if (j) j.ran('worker', render(argv));
  return dockerClient(argv.slice(1), timeoutMs);
}

/** What the engine says of the container: absent, or its image and state. */
export async function containerState(container: string): Promise<{ image: string; status: string } | undefined> {
  const r = await cli(dockerInspectArgv(container), undefined, 30_000);
  if (r.exitCode !== 0) {
    if (/no such (container|object)/i.test(r.stderr)) return undefined;
    throw failure('HostUnreachable', `docker inspect ${container} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  const [image = '', status = ''] = r.stdout.trim().split(' ');
  return { image, status };
}

/**
 * Makes the container run: created when absent, started when stopped, reused when running.
 * Returns what it did. Another image under the same name is HostConflict, left as it is.
 */
export async function provisionContainer(
  node: string,
  container: string,
  p: DockerProvision,
  j: Journal,
): Promise<'created' | 'started' | 'running'> {
  const must = async (argv: string[]) => {
    const r = await cli(argv, j, 5 * 60_000);
    if (r.exitCode !== 0)
      throw failure('CommandFailed', `for ${node}: ${render(argv)} failed (exit ${r.exitCode}: ${r.stderr.trim().slice(-800)})`);
  };
  const before = await containerState(container);
  if (before && before.image !== p.image)
    throw failure(
      'HostConflict',
      `container ${container} of ${node} runs image ${before.image}, the spec's host.provision names ${p.image}`,
    );
  let did: 'created' | 'started' | 'running';
  if (!before) {
    const r = await cli(dockerRunArgv(container, p), j, 5 * 60_000);
    if (r.exitCode !== 0) {
      // Another worker (a retry after a crash) may have made it meanwhile: take it when it is ours.
      const now = await containerState(container);
      if (!now || now.image !== p.image)
        throw failure(
          'CommandFailed',
          `for ${node}: docker run of ${container} failed (exit ${r.exitCode}: ${r.stderr.trim().slice(-800)})`,
        );
      if (now.status !== 'running') await must(['docker', 'start', container]);
    }
    did = 'created';
  } else if (before.status !== 'running') {
    if (before.status === 'paused') await must(['docker', 'unpause', container]);
    else await must(['docker', 'start', container]);
    did = 'started';
  } else did = 'running';
  // Up means: a command runs in it.
  const r = await cli(['docker', 'exec', container, 'true'], undefined, 60_000);
  if (r.exitCode !== 0) throw failure('HostUnreachable', `container ${container} of ${node} does not run commands: ${r.stderr.trim()}`);
  return did;
}
