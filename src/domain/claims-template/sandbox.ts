// Runs a checked, compiled template (compile.ts) against this module's runtime,
// environment, context and frames, never nunjucks' own: nunjucks' context and globals are ordinary
// objects (`{{ constructor }}` is `Object`), its member lookup returns any property, and its
// environment loads files. Here a name resolves only to the render's variables and the sandbox's
// globals, and what a value may do is values.ts.
import { createRequire } from 'node:module';
import { TemplateError, TemplateFailure, compileToCode, describe } from './compile.js';
import { sizeCost } from './limits.js';
import { SafeString, TemplateValues, type TemplateFunction } from './values.js';

type RenderCallback = (err: unknown, output?: string) => void;
type RootFunction = (env: object, context: object, frame: SandboxFrame, runtime: object, cb: RenderCallback) => void;

const require = createRequire(import.meta.url);
const { makeMacro } = require('nunjucks/src/runtime.js') as { makeMacro: (a: string[], k: string[], f: TemplateFunction) => TemplateFunction };

/** A filter: `this.values` is the render's budget; nunjucks' own filters find `this.env` there too. */
export type SandboxFilter = (this: FilterScope, ...args: unknown[]) => unknown;
export interface FilterScope {
  values: TemplateValues;
  env: { opts: { autoescape: false; throwOnUndefined: false }; getTest(name: string): TemplateFunction };
}
export interface SandboxDefinitions {
  filters: Readonly<Record<string, SandboxFilter>>;
  tests: Readonly<Record<string, (...args: unknown[]) => unknown>>;
  /** Functions the template can call by name, made afresh for each render. */
  globals: Readonly<Record<string, (values: TemplateValues) => TemplateFunction>>;
}

export { TemplateFailure };

export class CompiledTemplate {
  constructor(readonly root: RootFunction) {}
}

export class TemplateSandbox {
  readonly #cache = new Map<string, CompiledTemplate>();

  constructor(readonly definitions: SandboxDefinitions) {}

  /** Parses, checks and compiles; throws TemplateFailure. Compiled templates are kept (they come from the config). */
  compile(source: string): CompiledTemplate {
    const cached = this.#cache.get(source);
    if (cached) return cached;
    const { filters, tests } = this.definitions;
    const code = compileToCode(source, { filter: (name) => Object.hasOwn(filters, name), test: (name) => Object.hasOwn(tests, name) });
    let root: RootFunction;
    try {
      // The code is nunjucks' own output for a checked tree: names are identifiers, literals are escaped.
      root = (new Function(code) as () => { root: RootFunction })().root;
    } catch {
      throw new TemplateFailure('the template could not be compiled');
    }
    const compiled = new CompiledTemplate(root);
    if (this.#cache.size >= 512) this.#cache.clear();
    this.#cache.set(source, compiled);
    return compiled;
  }

  /** Renders over `data` (made inert first); throws TemplateFailure. */
  render(template: CompiledTemplate, data: Readonly<Record<string, unknown>>): string {
    const values = new TemplateValues();
    let failure: unknown;
    let output = '';
    try {
      const { env, context, frame, runtime } = this.#scope(values, data);
      template.root(env, context, frame, runtime, (err, out) => {
        if (err) failure = err;
        else output = out ?? '';
      });
    } catch (err) {
      failure = err;
    }
    if (failure !== undefined) throw new TemplateFailure(describe(failure, false));
    return output;
  }

  #scope(values: TemplateValues, data: Readonly<Record<string, unknown>>) {
    const { filters, tests, globals: globalFactories } = this.definitions;
    const variables = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(data)) variables[key] = values.data(data[key]);
    const globals = Object.create(null) as Record<string, unknown>;
    for (const name of Object.keys(globalFactories)) globals[name] = values.callable(globalFactories[name](values));
    const unavailable = () => {
      throw new Error('not available in claims templates');
    };
    const getTest = (name: string): TemplateFunction => {
      if (!Object.hasOwn(tests, name)) throw new Error(`unknown test "${name}"`);
      const test = tests[name];
      return (...args) => {
        values.step();
        return test(...args.map((arg) => values.argument(arg))) === true;
      };
    };
    const opts = Object.freeze({ autoescape: false as const, throwOnUndefined: false as const });
    const scope: FilterScope = Object.freeze({ values, env: Object.freeze({ opts, getTest }) });
    const getFilter = (name: string): TemplateFunction => {
      if (!Object.hasOwn(filters, name)) throw new Error(`unknown filter "${name}"`);
      const filter = filters[name];
      return (...args) => {
        values.step(1 + sizeCost(args[0]));
        return values.produced(filter.apply(scope, args.map((arg) => values.argument(arg))));
      };
    };
    const env = Object.freeze({ opts, getFilter, getTest, getExtension: unavailable, getTemplate: unavailable, waterfall: unavailable });
    const context = Object.freeze({
      setVariable: (name: string, value: unknown) => void (variables[name] = value),
      addExport: () => undefined,
      getVariables: unavailable,
      getBlock: unavailable,
      addBlock: unavailable,
      getSuper: unavailable,
    });
    const namespaces = new WeakSet<object>();
    const frame = new SandboxFrame(values, namespaces);
    frame.topLevel = true;
    const runtime = Object.freeze({
      Frame: function Frame() {
        return new SandboxFrame(values, namespaces);
      },
      SafeString,
      makeMacro: (argNames: string[], kwargNames: string[], body: TemplateFunction) => values.callable(makeMacro(argNames, kwargNames, body)),
      makeKeywordArgs: (args: Record<string, unknown>) => Object.assign(args, { __keywords: true }),
      memberLookup: (obj: unknown, key: unknown) => values.lookup(obj, key),
      contextOrFrameLookup: (_context: unknown, current: SandboxFrame, name: string) => {
        values.step();
        const found = current.lookup(name);
        if (found !== undefined) return found;
        return Object.hasOwn(variables, name) ? variables[name] : globals[name];
      },
      callWrap: (fn: unknown, name: string, _context: unknown, args: unknown[]) => {
        if (!values.isCallable(fn)) throw new Error(`Unable to call \`${name}\`, which is not a function`);
        return fn(...args);
      },
      suppressValue: (value: unknown) => values.output(value),
      ensureDefined: (value: unknown) => value,
      handleError: (err: unknown, lineno: number, colno: number) => new TemplateError(err, lineno, colno),
      isArray: Array.isArray,
      keys: (obj: unknown) => (values.iterable(obj) && !Array.isArray(obj) ? Object.keys(obj as object) : []),
      inOperator: (key: unknown, container: unknown) => values.contains(container, key),
      fromIterator: (value: unknown) => (values.iterable(value) ? value : value instanceof SafeString ? value.val : []),
      markSafe: (value: unknown) => value,
      operate: (op: string, a: unknown, b?: unknown) => values.operate(op, a, b),
    });
    return { env, context, frame, runtime };
  }
}

/** nunjucks' runtime Frame, over null-prototype variables, charging each assignment to the budget. */
class SandboxFrame {
  readonly variables = Object.create(null) as Record<string, unknown>;
  topLevel = false;

  constructor(
    readonly values: TemplateValues,
    readonly namespaces: WeakSet<object>,
    readonly parent?: SandboxFrame,
    readonly isolateWrites = false,
  ) {}

  set(name: string, value: unknown, resolveUp?: boolean): void {
    this.values.step();
    const parts = name.split('.');
    if (resolveUp) {
      const frame = this.resolve(parts[0], true);
      if (frame) return frame.set(name, value);
    }
    let target = this.variables;
    for (const part of parts.slice(0, -1)) {
      // `loop.index` and the like: only ever written into a namespace this frame made.
      let next = target[part];
      if (typeof next !== 'object' || next === null || !this.namespaces.has(next)) {
        next = Object.create(null) as object;
        this.namespaces.add(next as object);
        target[part] = next;
      }
      target = next as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = value;
  }

  lookup(name: string): unknown {
    const value = this.variables[name];
    return value !== undefined ? value : this.parent?.lookup(name);
  }

  resolve(name: string, forWrite?: boolean): SandboxFrame | undefined {
    if (this.variables[name] !== undefined) return this;
    return (forWrite && this.isolateWrites ? undefined : this.parent)?.resolve(name);
  }

  push(isolateWrites?: boolean): SandboxFrame {
    return new SandboxFrame(this.values, this.namespaces, this, isolateWrites);
  }

  pop(): SandboxFrame | undefined {
    return this.parent;
  }
}
