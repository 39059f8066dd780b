// What a sandboxed template may hold and do with a value. Everything that enters template-land
// (claims, filter and function results) is copied into inert data first: primitives, frozen
// null-prototype objects and frozen arrays of inert data, `Bytes`, and functions this sandbox made
// itself. A member lookup yields only an own data property of such data (plus a few pure string
// methods), so no prototype, constructor or host object is ever reachable, whatever the names.
//
// Every step a template takes is charged to a per-render budget (limits.ts): steps, wall
// clock, string and list sizes, output.
import nunjucks from 'nunjucks';
import { ARRAY_METHODS, STRING_METHODS } from './methods.js';
import { TEMPLATE_LIMITS, TemplateLimitError, sizeCost, tooLong, tooMany } from './limits.js';

export type SafeStringLike = { val: string };
const SafeString = (nunjucks.runtime as unknown as { SafeString: new (value: string) => SafeStringLike }).SafeString;
export { SafeString };

/** Raw bytes in a template (from `b64decode`); they print as UTF-8 text, as in MAS. */
export class Bytes {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
    Object.freeze(this);
  }
  get buffer(): Buffer {
    return this.#bytes;
  }
  get length(): number {
    return this.#bytes.length;
  }
  toString(): string {
    return this.#bytes.toString('utf8');
  }
}

/** A function this sandbox made: the only thing a template may call. */
export type TemplateFunction = (...args: unknown[]) => unknown;

export function isRecord(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === null || proto === Object.prototype;
}

function quiet<T extends TemplateFunction>(fn: T): T {
  // Host code (a builtin filter, `~`) that turns a function into text must not print its source.
  for (const key of ['toString', 'valueOf', Symbol.toPrimitive]) Object.defineProperty(fn, key, { value: () => '' });
  return Object.freeze(fn);
}

/** One render's state: the budget, and what this render may call. */
export class TemplateValues {
  #steps = 0;
  #output = 0;
  readonly #deadline = performance.now() + TEMPLATE_LIMITS.milliseconds;
  readonly #callables = new WeakSet<object>();
  readonly #inert = new WeakSet<object>();

  step(cost = 1): void {
    this.#steps += cost;
    if (this.#steps > TEMPLATE_LIMITS.steps) throw new TemplateLimitError(`template exceeds the limit of ${TEMPLATE_LIMITS.steps} steps`);
    if (performance.now() > this.#deadline) throw new TemplateLimitError(`template exceeds the time limit of ${TEMPLATE_LIMITS.milliseconds} ms`);
  }

  /** Registers a function as callable from the template; its arguments and result are made inert. */
  callable(fn: TemplateFunction): TemplateFunction {
    const wrapped = quiet((...args: unknown[]) => {
      this.step();
      return this.produced(fn(...args.map((arg) => this.argument(arg))));
    });
    this.#callables.add(wrapped);
    return wrapped;
  }

  isCallable(value: unknown): value is TemplateFunction {
    return typeof value === 'function' && this.#callables.has(value);
  }

  /** Keyword arguments (nunjucks marks them with an own `__keywords`) stay mutable: nunjucks edits them. */
  argument(value: unknown): unknown {
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__keywords')) {
      const kwargs = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(value)) kwargs[key] = this.inert((value as Record<string, unknown>)[key]);
      return kwargs;
    }
    return this.inert(value);
  }

  /** The render's input (the claims): made inert once, not charged to the template. */
  data(value: unknown): unknown {
    return this.#copy(value, 0, false);
  }

  /** A copy of `value` that is inert data (see the header); anything else becomes undefined. */
  inert(value: unknown): unknown {
    return this.#copy(value, 0, true);
  }

  #copy(value: unknown, depth: number, charged: boolean): unknown {
    switch (typeof value) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'undefined':
        return value;
      case 'bigint':
        return String(value);
      case 'function':
        return this.#callables.has(value) ? value : undefined;
      case 'object':
        break;
      default:
        return undefined;
    }
    if (value === null || value instanceof Bytes || this.#inert.has(value)) return value;
    if (value instanceof SafeString) return value.val;
    if (depth >= TEMPLATE_LIMITS.depth) return undefined;
    if (Array.isArray(value)) {
      if (charged) this.step(1 + value.length);
      const copy = Array.from({ length: value.length }, (_, i) => this.#copy(Object.hasOwn(value, i) ? value[i] : undefined, depth + 1, charged));
      return this.#seal(copy);
    }
    if (!isRecord(value)) return undefined;
    const keys = Object.keys(value);
    if (charged) this.step(1 + keys.length);
    const copy = Object.create(null) as Record<string, unknown>;
    for (const key of keys) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) {
        Object.defineProperty(copy, key, { value: this.#copy(descriptor.value, depth + 1, charged), enumerable: true });
      }
    }
    return this.#seal(copy);
  }

  /** Like `inert`, for a value the template made: strings and lists are held to the limits. */
  produced(value: unknown): unknown {
    if (typeof value === 'string' && value.length > TEMPLATE_LIMITS.stringLength) throw tooLong();
    if (Array.isArray(value) && value.length > TEMPLATE_LIMITS.items) throw tooMany();
    return this.inert(value);
  }

  #seal<T extends object>(copy: T): T {
    Object.freeze(copy);
    this.#inert.add(copy);
    return copy;
  }

  /** `obj[key]` for a template: own data of records, arrays and strings, never a prototype's. */
  lookup(obj: unknown, key: unknown): unknown {
    this.step();
    const name = typeof key === 'string' ? key : typeof key === 'number' ? String(key) : undefined;
    if (name === undefined || obj === undefined || obj === null) return undefined;
    if (obj instanceof SafeString) obj = obj.val;
    if (typeof obj === 'string') {
      if (name === 'length' || /^(0|[1-9]\d*)$/.test(name)) return (obj as unknown as Record<string, unknown>)[name];
      const method = STRING_METHODS[name];
      if (!method) return undefined;
      const self = obj;
      return this.callable((...args) => {
        this.step(sizeCost(self));
        return method(self, args, this);
      });
    }
    if (obj instanceof Bytes) return name === 'length' ? obj.length : undefined;
    if (typeof obj !== 'object' || obj === null) return undefined;
    if (Array.isArray(obj)) {
      if (name === 'length') return obj.length;
      const method = ARRAY_METHODS[name];
      const self = obj;
      if (method) return this.callable((...args) => method(self, args, this));
    } else if (!isRecord(obj)) {
      return undefined;
    }
    const descriptor = Object.getOwnPropertyDescriptor(obj, name);
    return descriptor && 'value' in descriptor ? descriptor.value : undefined;
  }

  /** How a value prints, as JavaScript would print it, except that functions print nothing. */
  text(value: unknown, depth = 0): string {
    if (value === undefined || value === null) return '';
    const primitive = this.primitive(value, depth);
    return String(primitive);
  }

  /** The primitive JavaScript would convert `value` to, computed here and charged to the budget. */
  primitive(value: unknown, depth = 0): unknown {
    if (typeof value === 'function') return '';
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof SafeString) return value.val;
    if (value instanceof Bytes) return value.toString();
    if (!Array.isArray(value)) return '[object Object]';
    if (depth >= TEMPLATE_LIMITS.depth) throw new TemplateLimitError('a list nested too deeply to print exceeds the limit');
    let out = '';
    for (let i = 0; i < value.length; i++) {
      this.step();
      out += (i ? ',' : '') + this.text(value[i], depth + 1);
      if (out.length > TEMPLATE_LIMITS.stringLength) throw tooLong();
    }
    return out;
  }

  /** Lists, strings and records can be looped over; anything else loops zero times. */
  iterable(value: unknown): boolean {
    if (Array.isArray(value) || typeof value === 'string') return true;
    return typeof value === 'object' && value !== null && isRecord(value);
  }

  /** `key in container`: own keys of records only, no conversion by JavaScript itself. */
  contains(container: unknown, key: unknown): boolean {
    this.step(1 + sizeCost(container));
    if (Array.isArray(container)) return container.indexOf(key) !== -1;
    if (container instanceof SafeString) container = container.val;
    if (typeof container === 'string') return container.indexOf(String(this.primitive(key))) !== -1;
    if (typeof container === 'object' && container !== null && isRecord(container)) return Object.hasOwn(container, String(this.primitive(key)));
    throw new Error('"in" needs a list, a string or a mapping on its right');
  }

  /**
   * A template's operator, with JavaScript's semantics (nunjucks compiles `a + b` to JavaScript's
   * `+`), except that operands are converted here: JavaScript would print a function's source, and
   * walk a list that shares itself (`[l, l]`, sixty times over) for ever.
   */
  operate(op: string, a: unknown, b?: unknown): unknown {
    this.step();
    if (op === '===') return a === b;
    if (op === '!==') return a !== b;
    const objects = isObjectLike(a) && isObjectLike(b);
    // Both sides are primitives from here on, so JavaScript converts nothing but numbers and strings.
    const x = this.primitive(a) as number;
    const y = this.primitive(b) as number;
    let result: unknown;
    switch (op) {
      // eslint-disable-next-line eqeqeq
      case '==': return objects ? a === b : x == y;
      // eslint-disable-next-line eqeqeq
      case '!=': return objects ? a !== b : x != y;
      case '<': return x < y;
      case '>': return x > y;
      case '<=': return x <= y;
      case '>=': return x >= y;
      case '+': result = x + y; break;
      case '~': result = String(x) + String(y); break;
      case '-': return x - y;
      case '*': return x * y;
      case '/': return x / y;
      case '%': return x % y;
      case '//': return Math.floor(x / y);
      case '**': return Math.pow(x, y);
      case 'neg': return -x;
      case 'pos': return +x;
      default: throw new Error(`unknown operator ${op}`);
    }
    if (typeof result === 'string' && result.length > TEMPLATE_LIMITS.stringLength) throw tooLong();
    return result;
  }

  /** What `{{ … }}` appends to the output. */
  output(value: unknown): string {
    this.step();
    const text = this.text(value);
    this.#output += text.length;
    if (this.#output > TEMPLATE_LIMITS.stringLength) {
      throw new TemplateLimitError(`output longer than ${TEMPLATE_LIMITS.stringLength} characters exceeds the limit`);
    }
    return text;
  }
}

function isObjectLike(value: unknown): boolean {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}
