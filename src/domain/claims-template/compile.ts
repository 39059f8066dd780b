// Jinja-syntax templates through nunjucks' parser and code generator, with the parse tree checked
// first. nunjucks' code generator pastes names into JavaScript unescaped (`{{ a\ + "…" + &" }}`
// runs code), its loaders read files, and it compiles operators to JavaScript's own (which print a
// function's source): so only an allow-list of nodes passes (no include/import/extends/blocks, no
// regular expressions, names are identifiers, filters and tests are the sandbox's), literal text is
// output through the runtime, and operators become `runtime.operate` calls.
import nunjucks from 'nunjucks';
import { TemplateLimitError } from './limits.js';

interface TemplateNode {
  typename: string;
  fields: string[];
  lineno: number;
  colno: number;
  [field: string]: unknown;
}
interface CodeGenerator {
  compile(node: TemplateNode, frame?: unknown): void;
  getCode(): string;
  _emit(code: string): void;
  [method: string]: unknown;
}
const internals = nunjucks as unknown as {
  parser: { parse(source: string): TemplateNode };
  nodes: { Node: abstract new () => TemplateNode; Literal: new (lineno: number, colno: number, value: unknown) => TemplateNode };
  compiler: { Compiler: new (name: string, throwOnUndefined: boolean) => CodeGenerator };
  lib: { TemplateError: new (cause: unknown, lineno?: number, colno?: number) => Error };
};

/** The filter and test names a template may use. */
export interface KnownNames {
  filter(name: string): boolean;
  test(name: string): boolean;
}

export const TemplateError = internals.lib.TemplateError;

/** A template that does not compile, is refused, or failed while rendering; the message says where. */
export class TemplateFailure extends Error {}

const ALLOWED_NODES = new Set([
  'Root', 'NodeList', 'Output', 'TemplateData', 'Literal', 'Symbol', 'Group', 'Array', 'Pair', 'Dict', 'LookupVal', 'If',
  'InlineIf', 'For', 'Macro', 'Caller', 'FunCall', 'Filter', 'KeywordArgs', 'Set', 'Switch', 'Case', 'Capture', 'In', 'Is',
  'Or', 'And', 'Not', 'Add', 'Concat', 'Sub', 'Mul', 'Div', 'FloorDiv', 'Mod', 'Pow', 'Neg', 'Pos', 'Compare', 'CompareOperand',
]);
const REFUSED: Record<string, string> = {
  Include: 'templates cannot include other templates',
  Import: 'templates cannot import other templates',
  FromImport: 'templates cannot import other templates',
  Extends: 'templates cannot extend other templates',
  Block: 'blocks are not available (templates cannot extend other templates)',
  Super: 'blocks are not available (templates cannot extend other templates)',
};
const COMPARE_OPS = new Set(['==', '===', '!=', '!==', '<', '>', '<=', '>=']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function refuse(node: TemplateNode, reason: string): never {
  throw new TemplateFailure(`${reason} (line ${node.lineno + 1}, column ${node.colno + 1})`);
}

function nameOf(node: unknown): string | undefined {
  const n = node as TemplateNode | undefined;
  if (n?.typename === 'Symbol' && typeof n.value === 'string') return n.value;
  if (n?.typename === 'FunCall') return nameOf(n.name);
  return undefined;
}

function children(node: unknown): TemplateNode[] {
  const n = node as TemplateNode | undefined;
  return (n?.children as TemplateNode[] | undefined) ?? [];
}

/**
 * The nodes nunjucks pastes into the generated code as names (`frame.set("…")`, `l_…`): its parser
 * accepts any literal there (`{% set "a\");…" = 1 %}`), so each must be a Symbol, checked below.
 */
function declaredNames(node: TemplateNode): unknown[] {
  switch (node.typename) {
    case 'Set':
      return node.targets as unknown[];
    case 'For':
      return (node.name as TemplateNode).typename === 'Array' ? children(node.name) : [node.name];
    case 'Macro':
    case 'Caller':
      return [
        node.name,
        ...children(node.args).flatMap((arg) => (arg.typename === 'KeywordArgs' ? children(arg).map((pair) => pair.key) : [arg])),
      ];
    default:
      return [];
  }
}

/** Checks the parse tree against the allow-list; literal text becomes output the budget sees. */
function check(node: TemplateNode, known: KnownNames): void {
  const type = node.typename;
  if (!ALLOWED_NODES.has(type)) refuse(node, REFUSED[type] ?? `this tag is not available in claims templates (${type})`);
  if (type === 'Symbol' && !(typeof node.value === 'string' && IDENTIFIER.test(node.value))) refuse(node, `"${String(node.value)}" is not a valid name`);
  if (type === 'Literal' && node.value !== null && !['string', 'number', 'boolean'].includes(typeof node.value)) {
    refuse(node, 'regular expressions are not available in claims templates');
  }
  if (type === 'Filter' && !known.filter(nameOf(node.name) ?? '')) refuse(node, `unknown filter "${nameOf(node.name) ?? '?'}"`);
  if (type === 'Is' && !known.test(nameOf(node.right) ?? '')) refuse(node, `unknown test "${nameOf(node.right) ?? '?'}"`);
  if (type === 'CompareOperand' && !COMPARE_OPS.has(String(node.type))) refuse(node, `unknown comparison "${String(node.type)}"`);
  for (const name of declaredNames(node)) {
    if ((name as TemplateNode | undefined)?.typename !== 'Symbol') refuse(node, 'expected a variable name');
  }
  if (type === 'Output') {
    // nunjucks appends literal text without a call; as a literal expression it goes through the output budget.
    const children = node.children as TemplateNode[];
    node.children = children.map((child) => (child.typename === 'TemplateData' ? new internals.nodes.Literal(child.lineno, child.colno, child.value) : child));
  }
  for (const field of node.fields) {
    const value = node[field];
    for (const child of Array.isArray(value) ? value : [value]) {
      if (child instanceof internals.nodes.Node) check(child, known);
    }
  }
}

/** Operators become `runtime.operate` calls, so no value is ever converted by JavaScript itself. */
function generator(): CodeGenerator {
  const gen = new internals.compiler.Compiler('claims template', false);
  const binary = (op: string) =>
    function (this: CodeGenerator, node: TemplateNode, frame: unknown) {
      this._emit(`runtime.operate(${JSON.stringify(op)}, `);
      this.compile(node.left as TemplateNode, frame);
      this._emit(', ');
      this.compile(node.right as TemplateNode, frame);
      this._emit(')');
    };
  const unary = (op: string) =>
    function (this: CodeGenerator, node: TemplateNode, frame: unknown) {
      this._emit(`runtime.operate(${JSON.stringify(op)}, `);
      this.compile(node.target as TemplateNode, frame);
      this._emit(')');
    };
  const ops = { Add: '+', Concat: '~', Sub: '-', Mul: '*', Div: '/', Mod: '%', FloorDiv: '//', Pow: '**' };
  for (const [type, op] of Object.entries(ops)) gen[`compile${type}`] = binary(op);
  // A call is named after its target for error messages, pasted into a string with quotes escaped
  // but not backslashes (`x["\\\"+…"]()` breaks out): keep only characters that need no escaping
  // but the quotes it does escape.
  const nodeName = gen._getNodeName as (this: CodeGenerator, node: TemplateNode) => string;
  gen._getNodeName = function (this: CodeGenerator, node: TemplateNode) {
    return nodeName.call(this, node).replace(/[^\w .[\]()"-]/g, '?');
  };
  gen.compileNeg = unary('neg');
  gen.compilePos = unary('pos');
  gen.compileCompare = function (this: CodeGenerator, node: TemplateNode, frame: unknown) {
    // `a < b < c` is `(a < b) < c`, as nunjucks compiles it.
    const operands = node.ops as TemplateNode[];
    for (const operand of [...operands].reverse()) this._emit(`runtime.operate(${JSON.stringify(operand.type)}, `);
    this.compile(node.expr as TemplateNode, frame);
    for (const operand of operands) {
      this._emit(', ');
      this.compile(operand.expr as TemplateNode, frame);
      this._emit(')');
    }
  };
  return gen;
}

/** A clean one-line message from a nunjucks or render error, with where it happened. */
export function describe(err: unknown, oneBased: boolean): string {
  const e = err as { message?: unknown; cause?: unknown; lineno?: number; colno?: number };
  const cause = e.cause instanceof Error ? e.cause : err;
  let message = (cause instanceof TemplateLimitError ? cause.message : String(e.message ?? err)).replace(/\s+/g, ' ').trim();
  message = message.replace(/^(Template render error|Error): /, '');
  const shift = oneBased ? 0 : 1;
  if (typeof e.lineno === 'number' && typeof e.colno === 'number' && !(cause instanceof TemplateLimitError)) {
    message += ` (line ${e.lineno + shift}, column ${e.colno + shift})`;
  }
  return message;
}

/** The JavaScript nunjucks generates for a checked template; throws TemplateFailure. */
export function compileToCode(source: string, known: KnownNames): string {
  try {
    const tree = internals.parser.parse(source);
    check(tree, known);
    const gen = generator();
    gen.compile(tree);
    return gen.getCode();
  } catch (err) {
    throw err instanceof TemplateFailure ? err : new TemplateFailure(describe(err, true));
  }
}
