// Picks the transport a node's spec asks for.
import type { NodeSpec } from '../model/spec.js';
import { DockerHost } from './docker.js';
import { LocalHost } from './local.js';
import { SshHost } from './ssh.js';
import type { Host } from './types.js';

export function hostFor(node: NodeSpec): Host {
  const t = node.host;
  switch (t.transport) {
    case 'local':
      return new LocalHost(node.name, node.osUser);
    case 'ssh':
      return new SshHost(node.name, node.osUser, t);
    case 'docker':
      return new DockerHost(node.name, node.osUser, t.container);
  }
}
