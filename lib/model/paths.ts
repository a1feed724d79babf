// Path arithmetic the spec rules and the sandbox share (pure: no filesystem).

/** The path without trailing slashes (`/` stays `/`). */
export const trimSlash = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, '') : p);

/** True when `path` is `dir` or lies below it. */
export const within = (dir: string, path: string): boolean => {
  const d = trimSlash(dir);
  const p = trimSlash(path);
  return p === d || p.startsWith(d === '/' ? '/' : `${d}/`);
};
