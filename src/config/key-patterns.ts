// Key patterns such as `clients[].client_secret` name a key in every element of a list; the
// secret-file reader and the redactor both walk them.
import { isMapping, type Mapping } from './mapping.js';

/**
 * Calls `visit` with the mapping holding the last key of `pattern`, that key, and the full key
 * path (`clients[2].client_secret`), for every match present in `root`.
 */
export function forEachKey(root: unknown, pattern: string, visit: (parent: Mapping, key: string, path: string) => void): void {
  const segments = pattern.split('.');
  const walk = (node: unknown, index: number, path: string): void => {
    const segment = segments[index] as string;
    const list = segment.endsWith('[]');
    const key = list ? segment.slice(0, -2) : segment;
    if (!isMapping(node)) return;
    const here = path ? `${path}.${key}` : key;
    if (index === segments.length - 1) {
      if (Object.hasOwn(node, key)) visit(node, key, here);
      return;
    }
    const next = node[key];
    if (list) {
      if (Array.isArray(next)) next.forEach((element, at) => walk(element, index + 1, `${here}[${at}]`));
    } else {
      walk(next, index + 1, here);
    }
  };
  walk(root, 0, '');
}
