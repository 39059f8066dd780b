// What can be wrong with a configuration, and where it came from. Every problem names the key
// path (`http.listeners[0].binds[0].port`) and, when it was set by a file or an environment
// variable, that origin, so an operator with several `-c` files knows which one to edit.

export interface Problem {
  /** Key path such as `http.listeners[0].binds[0].port`; empty for a problem with a whole file. */
  key: string;
  /** The file (or `$ENV_VAR`) the offending value came from; absent for defaults. */
  file?: string;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: Problem[];

  constructor(problems: Problem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(problem: Problem): string {
  const where = problem.file ? ` (${problem.file})` : '';
  return problem.key ? `${problem.key}${where}: ${problem.message}` : `${problem.file ?? 'config'}: ${problem.message}`;
}

/** Appends a key or list index to a key path: `joinKey('a', 'b')` is `a.b`, `joinKey('a', 0)` is `a[0]`. */
export function joinKey(base: string, sub: string | number): string {
  if (typeof sub === 'number') return `${base}[${sub}]`;
  if (sub === '') return base;
  return base ? `${base}.${sub}` : sub;
}

/** The enclosing key path, or undefined at the root: `a.b[0]` → `a.b` → `a`. */
export function parentKey(key: string): string | undefined {
  const match = /^(.*)(?:\[\d+\]|\.[^.[\]]+)$/.exec(key);
  if (match) return match[1];
  return key === '' ? undefined : '';
}

/** Remembers which file set each key, so problems found after merging can name their file. */
export class Provenance {
  private readonly origins = new Map<string, string>();

  set(key: string, origin: string): void {
    this.origins.set(key, origin);
  }

  /** Forgets `key` and everything below it (a later file replaced or removed the value). */
  clear(key: string): void {
    for (const known of [...this.origins.keys()]) {
      if (known === key || known.startsWith(`${key}.`) || known.startsWith(`${key}[`)) this.origins.delete(known);
    }
  }

  /** The origin of `key`, or of the nearest enclosing key that has one. */
  originOf(key: string): string | undefined {
    for (let at: string | undefined = key; at !== undefined && at !== ''; at = parentKey(at)) {
      const origin = this.origins.get(at);
      if (origin !== undefined) return origin;
    }
    return undefined;
  }
}

/** Collects errors and warnings, attributing each to the file its key came from. */
export class ProblemList {
  readonly errors: Problem[] = [];
  readonly warnings: Problem[] = [];

  constructor(private readonly provenance: Provenance = new Provenance()) {}

  error(key: string, message: string, file?: string): void {
    this.errors.push(this.problem(key, message, file));
  }

  warn(key: string, message: string, file?: string): void {
    this.warnings.push(this.problem(key, message, file));
  }

  /** A reporter whose keys are relative to `base`. */
  at(base: string): Reporter {
    return new Reporter(this, base);
  }

  private problem(key: string, message: string, file?: string): Problem {
    const origin = file ?? this.provenance.originOf(key);
    return origin === undefined ? { key, message } : { key, file: origin, message };
  }
}

/** Reports problems under a base key path; checks of list elements get one per element. */
export class Reporter {
  constructor(
    private readonly list: ProblemList,
    readonly key: string,
  ) {}

  error(message: string, sub: string | number = ''): void {
    this.list.error(joinKey(this.key, sub), message);
  }

  warn(message: string, sub: string | number = ''): void {
    this.list.warn(joinKey(this.key, sub), message);
  }

  at(sub: string | number): Reporter {
    return new Reporter(this.list, joinKey(this.key, sub));
  }

  /** Errors reported so far, anywhere; lets a check skip cross-field rules after a type error. */
  get errorCount(): number {
    return this.list.errors.length;
  }
}
