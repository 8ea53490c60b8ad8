// The Node adapters' third-party packages are optional peer dependencies of the published package
// (the core bundles import nothing): each is loaded on first use, so `import { nodeIO } from
// 'kiln-webgpu/node'` works without them, and a missing one is a named error that says what to install.
import { createRequire } from 'node:module';

/** A peer dependency the adapters need is not installed. */
export class MissingPeerError extends Error {
  override name = 'MissingPeerError';
  constructor(
    readonly packages: string[],
    readonly feature: string,
    options?: ErrorOptions,
  ) {
    super(`${feature} needs the npm package${packages.length > 1 ? 's' : ''} ${packages.join(', ')} (optional peer dependencies of kiln-webgpu): npm install ${packages.join(' ')}`, options);
  }
}

const requireHere = createRequire(import.meta.url);
const cache = new Map<string, unknown>();

const notFound = (e: unknown, name: string) => {
  const err = e as { code?: string; message?: string };
  return (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND') && (err.message ?? '').includes(name);
};

/**
 * Load `name` synchronously (require; an ES module too, as Node >= 20.19 allows), resolved from this
 * package's location, so the application's node_modules provide it. `group` names every package the
 * feature needs, for the error.
 */
export function loadPeer<T>(name: string, feature: string, group: string[] = [name]): T {
  if (cache.has(name)) return cache.get(name) as T;
  let mod: T;
  try {
    mod = requireHere(name) as T;
  } catch (e) {
    if (notFound(e, name)) throw new MissingPeerError(group, feature, { cause: e });
    throw e;
  }
  cache.set(name, mod);
  return mod;
}

/** Load an ES module peer with import() (resolved from this module's location, as require is). */
export async function importPeer<T>(name: string, feature: string, group: string[] = [name]): Promise<T> {
  if (cache.has(name)) return cache.get(name) as T;
  let mod: T;
  try {
    mod = (await import(name)) as T;
  } catch (e) {
    if (notFound(e, name)) throw new MissingPeerError(group, feature, { cause: e });
    throw e;
  }
  cache.set(name, mod);
  return mod;
}
