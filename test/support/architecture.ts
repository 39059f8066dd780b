// Reads a source tree's imports and checks the layering written down in ARCHITECTURE.md: folders
// form floors, an import may only point to the same floor or further down, no two folders import
// each other (directly or round a longer loop), `domain/` imports no project code, only
// `storage/` writes SQL and only `oidc/` imports oidc-provider. It works on a map of file contents
// so that a test can feed it a small made-up tree and watch it fail.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

/** Top floor first. A folder not listed here is itself a violation: every folder needs a place. */
export const FLOORS: readonly (readonly string[])[] = [
  ['cli'],
  ['http'],
  ['views', 'compat', 'admin'],
  // '.' holds the application context and the clock, which every service below http takes.
  ['oidc', 'upstream', 'accounts', 'jobs', 'directory', 'rendezvous', 'migrate', 'web', '.'],
  ['storage', 'homeserver', 'email', 'policy'],
  ['domain', 'config'],
];

export interface Import {
  from: string; // file, relative to the source root, posix separators
  specifier: string;
  typeOnly: boolean;
}

export interface Violation {
  rule: 'floor' | 'cycle' | 'domain-pure' | 'sql-outside-storage' | 'oidc-provider-outside-oidc' | 'unknown-folder';
  message: string;
}

const IMPORT = /(?:^|[\s;}])(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]|(?:import|require)\(\s*['"`]([^'"`$]+)['"`]\s*\)/g;
// A tagged template whose text starts with an upper-case SQL verb (how all our SQL is written):
// `sql\`SELECT …\``, `tx<Row[]>\`UPDATE …\``. Lower-case verbs would match prose in strings.
const SQL_TEMPLATE = /\b[A-Za-z_$][\w$]*\s*(?:<[^`;]*?>)?\s*`\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LOCK|CREATE|ALTER|DROP|TRUNCATE)\s/;
const SQL_UNSAFE = /\.unsafe\s*\(/;

/**
 * Blanks out comments, leaving strings and template literals as they are: a `/*` or `//` inside a
 * string (a route such as '/register/*rest', a URL) is text, not the start of a comment.
 */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  // What we are inside of: code, a quoted string, or a template literal (and, for `${ }`
  // holes, how many braces deep the code inside it is).
  const stack: { kind: 'code' | "'" | '"' | '`'; braces: number }[] = [{ kind: 'code', braces: 0 }];
  while (i < text.length) {
    const top = stack[stack.length - 1]!;
    const c = text[i]!;
    const next = text[i + 1];
    if (top.kind === 'code') {
      if (c === '/' && next === '/') {
        const end = text.indexOf('\n', i);
        i = end < 0 ? text.length : end;
        continue;
      }
      if (c === '/' && next === '*') {
        const end = text.indexOf('*/', i + 2);
        const stop = end < 0 ? text.length : end + 2;
        out += text.slice(i, stop).replace(/[^\n]/g, ' ');
        i = stop;
        continue;
      }
      if (c === "'" || c === '"' || c === '`') stack.push({ kind: c, braces: 0 });
      else if (c === '{') top.braces += 1;
      else if (c === '}') {
        if (top.braces === 0 && stack.length > 1) stack.pop();
        else top.braces -= 1;
      }
      out += c;
      i += 1;
      continue;
    }
    if (c === '\\') {
      out += text.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (top.kind === '`' && c === '$' && next === '{') {
      stack.push({ kind: 'code', braces: 0 });
      out += '${';
      i += 2;
      continue;
    }
    if (c === top.kind) stack.pop();
    out += c;
    i += 1;
  }
  return out;
}

export function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  for (const m of stripComments(text).matchAll(IMPORT)) {
    const specifier = m[3] ?? m[4];
    if (specifier) found.push({ from: file, specifier, typeOnly: Boolean(m[2]) });
  }
  return found;
}

/** The folder a file belongs to: its first path segment, or '.' for files at the root. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 1 ? parts[0]! : '.';
}

function floorOf(folder: string): number {
  return FLOORS.findIndex((floor) => floor.includes(folder));
}

function resolveRelative(from: string, specifier: string): string {
  return posix.normalize(posix.join(posix.dirname(from), specifier));
}

/** Strongly connected components with more than one folder (Tarjan). */
function folderCycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!indices.has(v)) visit(v);
  return cycles;
}

/** Checks a tree given as file path (relative to the source root) → contents. */
export function checkTree(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  const edges = new Map<string, Set<string>>();
  const reportedUnknown = new Set<string>();
  for (const [file, text] of files) {
    const folder = folderOf(file);
    edges.set(folder, edges.get(folder) ?? new Set());
    if (floorOf(folder) < 0 && !reportedUnknown.has(folder)) {
      reportedUnknown.add(folder);
      violations.push({ rule: 'unknown-folder', message: `${folder}/ has no floor in ARCHITECTURE.md` });
    }
    for (const imp of importsOf(file, text)) {
      if (imp.specifier === 'oidc-provider' || imp.specifier.startsWith('oidc-provider/')) {
        if (folder !== 'oidc') {
          violations.push({ rule: 'oidc-provider-outside-oidc', message: `${file} imports oidc-provider; only oidc/ may` });
        }
        continue;
      }
      if (!imp.specifier.startsWith('.')) continue;
      const target = folderOf(resolveRelative(file, imp.specifier));
      if (target === folder) continue;
      if (folder === 'domain') {
        violations.push({ rule: 'domain-pure', message: `${file} imports ${imp.specifier}; domain/ imports no project code` });
      }
      edges.get(folder)!.add(target);
      const [mine, theirs] = [floorOf(folder), floorOf(target)];
      if (mine >= 0 && theirs >= 0 && theirs < mine) {
        violations.push({ rule: 'floor', message: `${file} imports ${imp.specifier}: ${folder}/ may not import ${target}/, which is on a higher floor` });
      }
    }
    if (folder !== 'storage' && (SQL_TEMPLATE.test(stripComments(text)) || SQL_UNSAFE.test(text))) {
      violations.push({ rule: 'sql-outside-storage', message: `${file} contains SQL; only storage/ may` });
    }
  }
  for (const cycle of folderCycles(edges)) {
    violations.push({ rule: 'cycle', message: `folders import each other: ${cycle.join(' ↔ ')}` });
  }
  return violations;
}

/** Reads every non-test .ts file under a directory into the map checkTree takes. */
export function readTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      if (statSync(path).isDirectory()) walk(path, rel);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) files.set(rel, readFileSync(path, 'utf8'));
    }
  };
  walk(root, '');
  return files;
}
