import type { PiiPath } from '../plan/types';

/**
 * Personal data at paths of a JSON document (`actor.mbox`). A path goes through arrays as if
 * each element stood there: `actor.member.mbox` reaches the mbox of every member of an xAPI
 * Group, and a path ending at an array of strings reaches each string. Without that, a list
 * would pass a declared path untouched, and its personal values into staging in clear.
 */

/** Every string at the path (none when it is absent), in document order. */
export function stringsAtPath(doc: unknown, path: readonly string[]): string[] {
  const out: string[] = [];
  visit(doc, path, 0, (v) => {
    out.push(v);
    return v;
  });
  return out;
}

/** Walks `path` from `node`, into every element of an array met on the way; `at` sees each string at its end and returns what replaces it. */
function visit(node: unknown, path: readonly string[], depth: number, at: (value: string) => string | null): void {
  // An index names one element (`parent.0.id`), as plans written before arrays were walked did.
  if (Array.isArray(node) && !(depth < path.length && /^\d+$/.test(path[depth]!))) {
    for (const el of node) visit(el, path, depth, at);
    return;
  }
  if (node === null || typeof node !== 'object' || depth >= path.length) return;
  const key = path[depth]!;
  if (!Object.prototype.hasOwnProperty.call(node, key)) return;
  const obj = node as Record<string, unknown>;
  const child = obj[key];
  if (depth < path.length - 1) return visit(child, path, depth + 1, at);
  if (typeof child === 'string') obj[key] = at(child);
  else if (Array.isArray(child)) child.forEach((el, i) => (typeof el === 'string' ? (child[i] = at(el)) : undefined));
}

/** Replaces every string at the document's personal-data paths (in place; tokenizing never adds fields); returns the replaced originals. */
export function replaceAtPaths(doc: unknown, paths: readonly PiiPath[], replace: (value: string, p: PiiPath) => string | null): { path: PiiPath; value: string }[] {
  const replaced: { path: PiiPath; value: string }[] = [];
  for (const p of paths) {
    visit(doc, p.path, 0, (v) => {
      replaced.push({ path: p, value: v });
      return replace(v, p);
    });
  }
  return replaced;
}
