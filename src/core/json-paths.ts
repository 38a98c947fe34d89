import type { PiiPath } from '../plan/types';

/** Reads the value at a path of a JSON document (undefined when absent). */
export function getPath(doc: unknown, path: readonly string[]): unknown {
  let node = doc;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Sets the value at a path, only where the path already exists (tokenizing never adds fields). */
export function setPath(doc: unknown, path: readonly string[], value: unknown): void {
  let node = doc;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string, unknown>)[key];
  }
  const last = path[path.length - 1]!;
  if (node !== null && typeof node === 'object' && last in (node as object)) (node as Record<string, unknown>)[last] = value;
}

/** Replaces every string at the document's personal-data paths; returns the replaced originals. */
export function replaceAtPaths(doc: unknown, paths: readonly PiiPath[], replace: (value: string, p: PiiPath) => string | null): { path: PiiPath; value: string }[] {
  const replaced: { path: PiiPath; value: string }[] = [];
  for (const p of paths) {
    const v = getPath(doc, p.path);
    if (typeof v !== 'string') continue;
    replaced.push({ path: p, value: v });
    setPath(doc, p.path, replace(v, p));
  }
  return replaced;
}
