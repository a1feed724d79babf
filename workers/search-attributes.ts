// At start the worker makes sure the namespace knows the search attributes its workflows set
// (ClusterName, Trigger, Phase, Outcome): a server without them fails every workflow task with
// "no mapping defined for search attribute". Missing ones are registered where the server allows
// it (a dev server, a self-hosted one with operator rights); otherwise the worker refuses to start
// and prints the exact command an operator runs once.
import { SearchAttributeType } from '@temporalio/common';
import { searchAttributeKeys } from '../lib/model/search-attributes.js';

/** The two OperatorService calls this needs (a NativeConnection's or a Connection's operatorService). */
export interface SearchAttributeApi {
  listSearchAttributes(req: { namespace: string }): Promise<{ customAttributes?: { [name: string]: number } | null }>;
  addSearchAttributes(req: { namespace: string; searchAttributes: { [name: string]: number } }): Promise<unknown>;
}

// temporal.api.enums.v1.IndexedValueType, and the names the CLI's --type takes.
const INDEXED: Record<SearchAttributeType, { value: number; cli: string }> = {
  [SearchAttributeType.TEXT]: { value: 1, cli: 'Text' },
  [SearchAttributeType.KEYWORD]: { value: 2, cli: 'Keyword' },
  [SearchAttributeType.INT]: { value: 3, cli: 'Int' },
  [SearchAttributeType.DOUBLE]: { value: 4, cli: 'Double' },
  [SearchAttributeType.BOOL]: { value: 5, cli: 'Bool' },
  [SearchAttributeType.DATETIME]: { value: 6, cli: 'Datetime' },
  [SearchAttributeType.KEYWORD_LIST]: { value: 7, cli: 'KeywordList' },
};

type Key = { name: string; type: SearchAttributeType };

/** The search attributes could not be made to exist: the worker must not start. */
export class SearchAttributesError extends Error {}

/** `temporal operator search-attribute create ...` for the keys, exactly as an operator runs it. */
export function createCommand(keys: Key[], namespace: string, address?: string): string {
  return [
    'temporal operator search-attribute create',
    ...(address ? [`--address ${address}`] : []),
    `--namespace ${namespace}`,
    ...keys.map((k) => `--name ${k.name} --type ${INDEXED[k.type].cli}`),
  ].join(' ');
}

export interface EnsureResult {
  present: string[];
  registered: string[];
}

/**
 * Checks that every key exists in `namespace` with its type; registers the missing ones. Throws
 * SearchAttributesError naming the command to run when that is refused or a type is wrong.
 */
export async function ensureSearchAttributes(
  api: SearchAttributeApi,
  namespace: string,
  o: { address?: string; keys?: Key[]; waitMs?: number } = {},
): Promise<EnsureResult> {
  const keys = o.keys ?? searchAttributeKeys;
  const list = async () => (await api.listSearchAttributes({ namespace })).customAttributes ?? {};
  let have: { [name: string]: number };
  try {
    have = await list();
  } catch (err) {
    throw new SearchAttributesError(
      `cannot list the search attributes of namespace ${namespace}: ${(err as Error).message}` +
        ` (does the namespace exist? temporal operator namespace create --namespace ${namespace})`,
    );
  }
  const wrong = keys.filter((k) => have[k.name] !== undefined && have[k.name] !== INDEXED[k.type].value);
  if (wrong.length)
    throw new SearchAttributesError(
      `search attribute${wrong.length > 1 ? 's' : ''} ${wrong.map((k) => k.name).join(', ')} of namespace ${namespace} ` +
        `exist with another type than ${wrong.map((k) => INDEXED[k.type].cli).join(', ')}: remove or rename them, then restart the worker`,
    );
  const missing = keys.filter((k) => have[k.name] === undefined);
  const present = keys.filter((k) => have[k.name] !== undefined).map((k) => k.name);
  if (!missing.length) return { present, registered: [] };
  try {
    await api.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED[k.type].value])),
    });
  } catch (err) {
    throw new SearchAttributesError(
      `namespace ${namespace} lacks the search attribute${missing.length > 1 ? 's' : ''} ${missing.map((k) => k.name).join(', ')} ` +
        `and the server refused to register them (${(err as Error).message}). Register them once, then start the worker again:\n` +
        `  ${createCommand(missing, namespace, o.address)}`,
    );
  }
  // Registration is visible to the next list call on current servers; wait a little for older ones.
  const deadline = Date.now() + (o.waitMs ?? 10_000);
  for (;;) {
    const now = await list();
    if (missing.every((k) => now[k.name] !== undefined)) break;
    if (Date.now() > deadline)
      throw new SearchAttributesError(
        `registered ${missing.map((k) => k.name).join(', ')} in namespace ${namespace}, but the server does not list them yet; start the worker again`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
  return { present, registered: missing.map((k) => k.name) };
}
