// Random templates from a grammar of hostile fragments (member names that lead to constructors and
// prototypes, host globals, every filter name) over random claims (with keys such as `constructor`
// and `__proto__`): the renderer never reaches a host object and never throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TemplateError, claimsContext, renderTemplate } from './index.js';

const FLAG = '__mauthPropertyPwned';
const flags = globalThis as unknown as Record<string, unknown>;
const LEAK = /\[native code\]|function|=>|\[object (Function|process|global|Module)\]/;

const hostileKey = fc.constantFrom(
  'constructor', '__proto__', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'call', 'apply', 'bind', 'length', 'then', 'sub', 'name',
);
const member = fc.constantFrom(
  'constructor', '__proto__', 'prototype', 'call', 'apply', 'bind', 'valueOf', 'toString', 'hasOwnProperty', '__defineGetter__',
  '__lookupGetter__', 'caller', 'callee', 'arguments', 'length', 'name', 'sub', 'groups', 'then', 'process', 'mainModule', 'require',
  '__class__', '__mro__', '__subclasses__', '__globals__', '__init__', '__builtins__', 'getOwnPropertyDescriptor', 'getPrototypeOf',
  'value', 'split', 'toUpperCase', 'replace', '0', '1',
);
const root = fc.constantFrom(
  'user', 'id_token_claims', 'userinfo_claims', 'extra_callback_parameters', 'range', 'cycler', 'joiner', 'self', 'lipsum', 'loop',
  'caller', 'constructor', '__proto__', 'this', 'globalThis', 'process', 'require', 'Function', 'x', 'm', '""', "''", '[]', '{}', '1',
  'none', 'true', 'user.sub', 'user.groups',
);
// String literals shaped like a breakout from a string in generated JavaScript: close the string
// (with or without a backslash), close parentheses, run code, comment out the rest.
const breakout = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('', 'a', '\\', '\\\\'),
      fc.constantFrom('"', '\\"', "'", '`'),
      fc.constantFrom('', ')', '))', ')))', '))))', ']', '"]', '", 1)'),
      fc.constantFrom(';', ',', '+'),
      fc.constant(`(globalThis.${FLAG}=1)`),
      fc.constantFrom(';//', '//', '/*', '+"', ';', ''),
    )
    .map((parts) => parts.join('')),
  fc
    .array(fc.constantFrom('\\', '"', "'", '/', '*/', '/*', '//', ')', '(', ';', '+', '\n', '\u2028', '`', '${', `globalThis.${FLAG}=1`), { maxLength: 6 })
    .map((parts) => parts.join('')),
);
const literal = fc.oneof(
  breakout.map((text) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`),
  breakout.map((text) => `"${text}"`),
);
const code = fc.constantFrom(`"globalThis.${FLAG}=1"`, `"return globalThis.${FLAG}=1"`, '"return process"', '"constructor"', '"__proto__"', '"@"');
const filterName = fc.constantFrom(
  'lower', 'upper', 'string', 'dump', 'list', 'first', 'last', 'length', 'join', 'sort', 'reverse', 'from_json', 'b64encode', 'b64decode',
  'tlvdecode', 'split', 'default', 'safe', 'escape', 'urlencode', 'dictsort', 'title', 'trim', 'int', 'float', 'abs', 'sum', 'groupby',
  'selectattr', 'rejectattr', 'select', 'reject', 'attr', 'map', 'batch', 'slice', 'replace', 'center', 'truncate', 'wordcount',
);

const { expr } = fc.letrec<{ expr: string; lookup: string; call: string; filtered: string; operator: string; literal: string }>((tie) => ({
  expr: fc.oneof({ depthSize: 'small' }, root, code, literal, tie('lookup'), tie('call'), tie('filtered'), tie('operator'), tie('literal')),
  lookup: fc.oneof(
    fc.tuple(tie('expr'), member, fc.boolean()).map(([e, m, dot]) => (dot && /^[A-Za-z_]\w*$/.test(m) ? `(${e}).${m}` : `(${e})["${m}"]`)),
    fc.tuple(tie('expr'), literal).map(([e, key]) => `${e.replace(/\W/g, '') || 'x'}[${key}]`),
  ),
  call: fc.tuple(tie('expr'), fc.array(fc.oneof(tie('expr'), code), { maxLength: 3 })).map(([f, args]) => `(${f})(${args.join(', ')})`),
  filtered: fc
    .tuple(tie('expr'), filterName, fc.array(fc.oneof(tie('expr'), code), { maxLength: 2 }))
    .map(([e, f, args]) => `(${e}) | ${f}${args.length ? `(${args.join(', ')})` : ''}`),
  operator: fc.tuple(tie('expr'), fc.constantFrom('~', '+', '==', '<', 'in', '*'), tie('expr')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
  literal: fc.tuple(tie('expr'), tie('expr')).map(([a, b]) => (a.length % 2 ? `[${a}, ${b}]` : `{"__proto__": ${a}, "k": ${b}}`)),
}));
const target = fc.oneof(fc.constantFrom('x', '__proto__', 'constructor', 'loop', 'user', 'caller'), literal);
const statement = fc.oneof(
  expr.map((e) => `{{ ${e} }}`),
  fc.tuple(target, expr).map(([name, e]) => `{% set ${name} = ${e} %}`),
  fc.tuple(expr, expr).map(([a, b]) => `{% for k, v in ${a} %}{{ k }}{{ v }}{{ ${b} }}{% endfor %}`),
  fc.tuple(expr, expr).map(([a, b]) => `{% if ${a} %}{{ ${b} }}{% endif %}`),
  fc.tuple(expr, expr).map(([a, b]) => `{% macro m(a) %}{{ a.constructor }}{{ ${a} }}{% endmacro %}{{ m(${b}) }}`),
  fc.tuple(target, target, expr).map(([name, arg, e]) => `{% macro ${name}(${arg}, k=${e}) %}{% endmacro %}`),
  fc.tuple(target, expr).map(([name, e]) => `{% for ${name} in ${e} %}{% endfor %}`),
  fc.tuple(expr, literal).map(([e, name]) => `{{ ${e} is ${name} }}{{ {${name}: ${e}} }}`),
  literal.map((text) => `{{ ${text} }}`),
);
const template = fc.array(statement, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));

const { value: claimValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 8 }).filter((s) => !/function|native|=>/.test(s)),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 4 })), tie('value'), { maxKeys: 3 }),
  ),
}));
// Claims arrive as JSON: a `__proto__` key is then an own property, as JSON.parse makes it.
const claims = fc
  .dictionary(fc.oneof(hostileKey, fc.constantFrom('sub', 'email', 'preferred_username', 'groups')), claimValue, { maxKeys: 6 })
  .map((object) => JSON.parse(JSON.stringify(object)) as Record<string, unknown>);

test('random hostile templates over random claims never reach a host object and never throw', () => {
  fc.assert(
    fc.property(template, claims, claims, (source, idToken, userinfo) => {
      delete flags[FLAG];
      const out = renderTemplate('localpart', source, claimsContext({ idTokenClaims: idToken, userinfoClaims: userinfo }));
      assert.equal(flags[FLAG], undefined, 'ran code');
      if (out.ok) {
        assert.ok(out.value === undefined || typeof out.value === 'string');
        assert.doesNotMatch(out.value ?? '', LEAK);
      } else {
        assert.ok(out.error instanceof TemplateError);
        assert.equal(typeof out.error.reason, 'string');
        assert.doesNotMatch(out.error.reason, /\[native code\]/);
      }
    }),
    { numRuns: 400 },
  );
});

test('a member lookup yields exactly the own data property of the claims, whatever its name', () => {
  // Keys a template can spell as a plain string literal (nunjucks knows only \n, \t and \r escapes).
  const name = fc.oneof(hostileKey, fc.string({ maxLength: 6 }).filter((s) => [...s].every((c) => c >= ' ' && c !== '\\' && c !== '"')));
  const stringClaims = fc
    .dictionary(name, fc.string({ maxLength: 8 }), { maxKeys: 6 })
    .map((object) => JSON.parse(JSON.stringify(object)) as Record<string, string>);
  fc.assert(
    fc.property(stringClaims, name, (user, key) => {
      const out = renderTemplate('x', `{{ user["${key}"] }}`, { user });
      const own = Object.prototype.hasOwnProperty.call(user, key) ? user[key].trim() : '';
      assert.deepEqual(out, { ok: true, value: own === '' ? undefined : own });
    }),
    { numRuns: 300 },
  );
});

test('a string literal in any place nunjucks pastes into generated code never runs as code', () => {
  const payload = fc
    .tuple(
      fc.constantFrom('', 'a', '\\'),
      fc.constantFrom('"', '\\"'),
      fc.constantFrom('', ')', ')))', ', 1)', '"]'),
      fc.constantFrom(';', '+'),
      fc.constantFrom(';//', '//', '/*'),
    )
    .map(([head, quote, close, join, tail]) => `${head}${quote}${close}${join}(globalThis.${FLAG}=1)${tail}`);
  const literal = payload.map((text) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  const place = fc.constantFrom(
    (l: string) => `{% set ${l} = 1 %}`,
    (l: string) => `{% for ${l} in [1] %}{% endfor %}`,
    (l: string) => `{% for k, ${l} in {"a": 1} %}{% endfor %}`,
    (l: string) => `{% macro ${l}() %}{% endmacro %}`,
    (l: string) => `{% macro m(${l}) %}{% endmacro %}{{ m() }}`,
    (l: string) => `{% macro m(${l}=1) %}{% endmacro %}{{ m() }}`,
    (l: string) => `{{ x[${l}]() }}{{ "*/;//" }}`,
    (l: string) => `{{ x[${l}][${l}]() }}{{ "*/;//" }}`,
    (l: string) => `{{ 1 is ${l} }}`,
    (l: string) => `{{ {${l}: 1} }}{{ m(${l}=1) }}`,
    (l: string) => `{{ user.sub | replace(${l}, ${l}) }}{{ ${l} ~ ${l} }}`,
    (l: string) => `{% set x %}${l}{% endset %}{{ x }}{% raw %}${l}{% endraw %}`,
  );
  fc.assert(
    fc.property(place, literal, (make, l) => {
      delete flags[FLAG];
      const out = renderTemplate('x', make(l), { user: { sub: 'u-1' } });
      assert.equal(flags[FLAG], undefined, 'ran code');
      assert.ok(out.ok || out.error instanceof TemplateError);
    }),
    { numRuns: 500 },
  );
});
