// npm run lab -- create|disaster [--storage-lost]|status|destroy [--id X] [--hosts local|containers] [--replicas N] [--rows N] [--data-mb N]
//                [--image-size-gb N] [--all] [--json]
// Without --id, disaster/status/destroy take the only lab there is.
import { parseArgs } from 'node:util';
import { stopIdleEngine } from './containers/engine.js';
import { createLab, destroyAllLabs, destroyLab, disaster, formatStatus, labStatus, listLabs, loadLab, readLabFile } from './lab.js';

const USAGE = `usage: npm run lab -- create|disaster|status|destroy [options]
  create    a real cluster on this machine (loop devices, ext4, PostgreSQL 15): primary, standby, replicas
            [--id X] [--replicas N] [--rows N] [--data-mb N (pad the data, e.g. 256)] [--image-size-gb N]
            --hosts containers: the seed's topology, one container per node in the lab's own Docker
            engine (the host image is built once from Debian's archive, about two minutes)
  disaster  every compute host lost, only the storage survives [--id X]
            --storage-lost: the second disaster, the shared storage is lost (the standby survives)
  status    what runs, what is mounted, who streams [--id X] [--json]
  destroy   take the lab away [--id X | --all]; the lab's Docker engine stops with its last container lab
Without --id, disaster/status/destroy take the only lab there is. Needs root.`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      id: { type: 'string' },
      replicas: { type: 'string' },
      rows: { type: 'string' },
      'data-mb': { type: 'string' },
      'image-size-gb': { type: 'string' },
      hosts: { type: 'string' },
      all: { type: 'boolean' },
      'storage-lost': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
} catch (err) {
  process.stderr.write(`lab: ${(err as Error).message.split('\n')[0]}\n${USAGE}\n`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const log = (line: string) => console.log(line);

async function theLab(): Promise<string> {
  if (values.id) return values.id;
  const ids = await listLabs();
  if (ids.length === 1) return ids[0]!;
  throw new Error(ids.length ? `several labs (${ids.join(', ')}): give --id` : 'no lab: create one first');
}

async function main(): Promise<void> {
  const [command] = positionals;
  switch (command) {
    case 'create': {
      if (values.hosts !== undefined && values.hosts !== 'local' && values.hosts !== 'containers')
        throw new Error(`--hosts must be local or containers (got ${values.hosts})`);
      const lab = await createLab({
        ...(values.hosts ? { hosts: values.hosts } : {}),
        ...(values.id ? { id: values.id } : {}),
        ...(values.replicas ? { replicas: num(values.replicas)! } : {}),
        ...(values.rows ? { rows: num(values.rows)! } : {}),
        ...(values['data-mb'] ? { dataMb: num(values['data-mb'])! } : {}),
        ...(values['image-size-gb'] ? { imageSizeGb: num(values['image-size-gb'])! } : {}),
        log,
      });
      const info = await readLabFile(lab.id);
      console.log(`id: ${lab.id}`);
      console.log(`spec: ${lab.specFile}`);
      if (info.addresses && info.hosts === 'containers')
        console.log(
          `addresses: ${Object.entries(info.addresses)
            .map(([n, a]) => `${n}=${a}:${info.ports[n]}`)
            .join(' ')}`,
        );
      else
        console.log(
          `ports: ${Object.entries(info.ports)
            .map(([n, p]) => `${n}=${p}`)
            .join(' ')}`,
        );
      return;
    }
    case 'disaster': {
      const started = Date.now();
      await disaster(await loadLab(await theLab()), log, { storageLost: values['storage-lost'] });
      console.log(`disaster done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    case 'status': {
      const s = await labStatus(await loadLab(await theLab()));
      console.log(values.json ? JSON.stringify(s, null, 2) : formatStatus(s));
      return;
    }
    case 'destroy': {
      if (values.all) {
        const ids = await destroyAllLabs(log);
        console.log(ids.length ? `destroyed ${ids.join(', ')}` : 'no labs');
        await stopIdleEngine(log);
      } else {
        const id = await theLab();
        await destroyLab(id, log);
        console.log(`destroyed ${id}`);
        await stopIdleEngine(log);
      }
      return;
    }
    default:
      process.stderr.write(`${command ? `lab: unknown command ${command}\n` : ''}${USAGE}\n`);
      process.exitCode = 2;
      return;
  }
}

main().catch((err: Error) => {
  console.error(`lab: ${err.message}`);
  process.exitCode = 1;
});
