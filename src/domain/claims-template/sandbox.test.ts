// Known template-injection payloads (nunjucks and Jinja SSTI collections, plus what the security
// review found) against the claims_imports renderer: each must render inert or fail as a template
// error; none may run code, print a host object or function source, or read a file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { claimsContext, renderTemplate, templateSyntaxError } from './index.js';

const FLAG = '__mauthTemplatePwned';
const flags = globalThis as unknown as Record<string, unknown>;
const RUN = `globalThis.${FLAG}=1`;

const context = claimsContext({
  idTokenClaims: { sub: 'u-1', preferred_username: 'alice', email: 'alice@idp.test', groups: ['staff', 'ops'] },
  userinfoClaims: { name: 'Alice' },
  extraCallbackParameters: { user: '{"name":{"firstName":"Alice"}}' },
});

/** What no rendering may ever contain: host function source, host objects' names, file contents. */
const LEAK = /\[native code\]|function|=>|\[object (Function|process|global|Module)\]|TOPSECRET|root:x:0:0/;

function assertInert(template: string, ctx = context): void {
  delete flags[FLAG];
  const out = renderTemplate('localpart', template, ctx);
  assert.equal(flags[FLAG], undefined, `${template} ran code`);
  if (out.ok) {
    assert.ok(out.value === undefined || typeof out.value === 'string', `${template} → ${String(out.value)}`);
    assert.doesNotMatch(out.value ?? '', LEAK, `${template} → ${out.value}`);
  } else {
    assert.equal(out.error.attribute, 'localpart');
    assert.doesNotMatch(out.error.reason, /\[native code\]|TOPSECRET|root:x:0:0/, `${template} → ${out.error.reason}`);
  }
}

test('the review payload: Object through the context, Function through a prototype descriptor', () => {
  assertInert('{{ constructor }}');
  assertInert(`{{ constructor.getOwnPropertyDescriptor(constructor.getPrototypeOf(range), "constructor").value("${RUN}")() }}`);
  assertInert(`{% set d = constructor.getOwnPropertyDescriptor(constructor.getPrototypeOf(range), "constructor") %}{{ d.value("${RUN}")() }}`);
  assertInert('{{ constructor.keys(constructor) }}{{ constructor.entries(user) }}');
  assertInert(
    '{% set F = constructor.getOwnPropertyDescriptor(constructor.getPrototypeOf(range), "constructor").value %}' +
      `{{ F("${RUN}")() }}{{ F("return process")().getBuiltinModule("child_process").execSync("id") }}`,
  );
});

test('constructor chains through globals, literals and claims', () => {
  for (const template of [
    `{{ range.constructor("${RUN}")() }}`,
    `{{ ''.constructor.constructor("${RUN}")() }}`,
    `{{ "".constructor.constructor("${RUN}")() }}`,
    `{{ [].constructor.constructor("${RUN}")() }}`,
    `{{ {}.constructor.constructor("${RUN}")() }}`,
    `{{ (1).constructor.constructor("${RUN}")() }}`,
    `{{ user.sub.constructor.constructor("${RUN}")() }}`,
    `{{ user["constructor"]["constructor"]("${RUN}")() }}`,
    `{{ user.groups["constructor"]["constructor"]("${RUN}")() }}`,
    `{{ cycler.constructor("${RUN}")() }}`,
    `{{ joiner.constructor("${RUN}")() }}`,
    `{{ range.call.call(range.constructor, null, "${RUN}")() }}`,
    `{{ range.bind.apply(range.constructor, [null, "${RUN}"])() }}`,
    `{{ user.sub.toString.constructor("${RUN}")() }}`,
    `{{ user.sub.valueOf.constructor("${RUN}")() }}`,
    '{{ [].__proto__ }}', '{{ [].__proto__.constructor }}', '{{ user.__proto__ }}', '{{ user.__proto__.__proto__ }}',
    '{{ "".__proto__.constructor }}', '{{ range.prototype }}', '{{ range.__proto__ }}',
    '{{ cycler.constructor }}', '{{ cycler }}', '{{ cycler("a", "b") }}', '{{ joiner }}', '{{ joiner() }}',
    '{{ range }}', '{{ range.name }}{{ range.length }}', '{{ self }}', '{{ self.__init__.__globals__ }}',
    '{{ lipsum }}', '{{ lipsum.__globals__["os"] }}', '{{ namespace }}', '{{ config }}', '{{ request }}',
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ ''.__class__.__mro__[2].__subclasses__()[40]('/etc/passwd').read() }}",
    '{{ user.sub.valueOf }}', '{{ user.sub.toString }}', '{{ user.hasOwnProperty }}', '{{ user.toString }}',
    '{{ user.valueOf() }}', '{{ user.__defineGetter__ }}', '{{ user.__lookupGetter__("x") }}',
    '{{ user.sub.toString.call }}', '{{ user.sub.big }}', '{{ caller }}', '{{ loop }}', '{{ this }}',
    '{{ process }}', '{{ globalThis }}', '{{ global }}', '{{ require }}', '{{ module }}', '{{ env }}', '{{ runtime }}',
    '{{ context }}', '{{ frame }}', '{{ Function }}', '{{ eval }}', '{{ arguments }}',
  ]) {
    assertInert(template);
  }
});

test('{% set %} and literal tricks cannot plant a host object', () => {
  for (const template of [
    `{% set x = range.constructor %}{{ x("${RUN}")() }}`,
    `{% set c = "constructor" %}{{ user[c][c]("${RUN}")() }}{{ ""[c][c]("${RUN}")() }}`,
    `{% set __proto__ = range %}{{ constructor("${RUN}")() }}{{ call }}`,
    '{% set constructor = "x" %}{{ user.constructor }}',
    `{% set d = {"__proto__": range} %}{{ d.constructor("${RUN}")() }}{{ d.call }}{{ d }}`,
    `{% set d = {"__proto__": user} %}{{ d.sub }}{% for k, v in d %}{{ k }}{{ v }}{% endfor %}`,
    `{% set loop = user %}{% for i in [1] %}{{ loop.constructor("${RUN}") }}{% endfor %}`,
    '{% set x %}{{ range }}{% endset %}{{ x }}',
    `{% macro m(a) %}{{ a.constructor("${RUN}")() }}{% endmacro %}{{ m(range) }}{{ m(user) }}{{ m }}`,
    `{% macro m() %}{{ caller.constructor("${RUN}")() }}{% endmacro %}{% call m() %}x{% endcall %}`,
    '{% macro m() %}{% endmacro %}{{ m ~ "" }}{{ range ~ "" }}{{ range + 1 }}{{ [range] ~ "" }}{{ range == range }}',
    '{% for k, v in range %}{{ k }}{{ v }}{% endfor %}{% for k in constructor %}{{ k }}{% endfor %}',
    '{{ "constructor" in user }}{{ user.sub["length"] }}{{ user.sub[0] }}',
  ]) {
    assertInert(template);
  }
});

test('filters cannot look up or print host objects', () => {
  for (const template of [
    '{{ user | attr("constructor") }}', '{{ [1] | map("constructor") }}', '{{ range | dump }}', '{{ constructor | dump }}',
    '{{ [user.sub] | join(",", "constructor") }}', '{{ [[1]] | sum("constructor") }}', '{{ [user] | sum("constructor") }}',
    '{% for k, v in [user.sub] | groupby("constructor") %}{{ k }}{{ v }}{% endfor %}',
    '{% for k, v in [[1]] | groupby("__proto__") %}{{ k }}{% endfor %}',
    '{{ [user, user] | sort(attribute="constructor") | first }}', '{{ [user] | selectattr("constructor") | first }}',
    '{{ range | list }}', '{{ range | string }}', '{{ range | safe }}', '{{ range | first }}', '{{ range | length }}',
    '{{ range | reverse }}', '{{ range | escape }}', '{{ range | dictsort }}', '{{ [range] | select("callable") | first }}',
    '{{ user | list | first }}', '{{ user.sub | urlencode }}', '{{ user | urlencode }}',
    '{{ range | from_json }}', '{{ range | b64encode }}', '{{ [range] | join }}', '{{ range | default("x") }}',
    '{{ user.sub | replace("u", range) }}', '{{ "x" | replace(r/x/, range) }}',
  ]) {
    assertInert(template);
  }
});

test('unknown filters and tests are refused when the config is checked', () => {
  assert.match(templateSyntaxError('{{ user | attr("constructor") }}') ?? '', /attr/);
  assert.match(templateSyntaxError('{{ user | map("x") }}') ?? '', /map/);
  assert.match(templateSyntaxError('{{ user is sameas_not_a_test }}') ?? '', /sameas_not_a_test/);
  assert.equal(templateSyntaxError('{{ user.email | lower | replace("@", " at ") | trim }}'), undefined);
});

test('include, import and extends neither read files nor render', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mauth-views-'));
  const cwd = process.cwd();
  try {
    // nunjucks' default loader reads `views/` under the working directory.
    mkdirSync(join(dir, 'views'));
    writeFileSync(join(dir, 'views', 'secret.txt'), 'TOPSECRET');
    writeFileSync(join(dir, 'views', 'macros.njk'), '{% set leaked = "TOPSECRET" %}{% macro m() %}TOPSECRET{% endmacro %}');
    process.chdir(dir);
    for (const template of [
      '{% include "secret.txt" %}', '{% include "/etc/passwd" %}', '{% include "../../../../etc/passwd" %}',
      '{% import "macros.njk" as x %}{{ x.m() }}{{ x.leaked }}', '{% from "macros.njk" import m %}{{ m() }}',
      '{% extends "secret.txt" %}', '{% extends "macros.njk" %}{% block b %}{% endblock %}',
    ]) {
      assertInert(template);
      assert.equal(renderTemplate('localpart', template, context).ok, false, template);
      assert.ok(templateSyntaxError(template), template);
    }
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('names cannot break out of the compiled code (symbols are identifiers only)', () => {
  for (const template of [
    `{{ a\\ + "+(${RUN})+" + &" }}`,
    `{% set a\\ = 1 %}{{ "+(${RUN})+" + &" }}`,
    `{{ x | a\\ }}{{ "+(${RUN})+" | &" }}`,
    `{% macro m(a\\) %}{% endmacro %}{{ "+(${RUN})+" + &" }}`,
    `{{ x is a\\ }}{{ "+(${RUN})+" is &" }}`,
    // Where nunjucks expects a name but its parser takes any literal.
    String.raw`{% set "a\", 1);${RUN};//" = 1 %}`,
    String.raw`{% macro "m\", 1);${RUN};//"() %}{% endmacro %}`,
    String.raw`{% macro m("a\"]=1;${RUN};//"=1) %}{% endmacro %}{{ m() }}`,
    String.raw`{% for "k\", 1);${RUN};//" in [1] %}{% endfor %}`,
    String.raw`{{ 1 is "a\").call(context,1);${RUN};//" }}`,
  ]) {
    assertInert(template);
    assert.ok(templateSyntaxError(template), template);
  }
  // nunjucks names a call after its literal keys, escaping quotes but not backslashes.
  assertInert(String.raw`{{ x["\\\"+(${RUN}))))/*"]() }}{{ "*/;//" }}`);
  assertInert(String.raw`{{ x["\\"]["\"+(${RUN}))))/*"]() }}{{ "*/;//" }}`);
});

test('what claims templates need keeps working: lookups, loops, conditionals, literals, methods, filters', () => {
  const render = (template: string) => renderTemplate('x', template, context);
  assert.deepEqual(render('{{ user.groups[0] }}-{{ user.groups | length }}-{{ user.sub.length }}'), { ok: true, value: 'staff-2-3' });
  assert.deepEqual(render('{% for g in user.groups %}{{ loop.index }}{{ g }}{% if not loop.last %},{% endif %}{% endfor %}'), { ok: true, value: '1staff,2ops' });
  assert.deepEqual(render('{% for k, v in {"a": 1, "b": 2} %}{{ k }}={{ v }};{% endfor %}'), { ok: true, value: 'a=1;b=2;' });
  assert.deepEqual(render("{{ user.email.split('@')[0] | upper }}{{ user.email.toUpperCase() }}"), { ok: true, value: 'ALICEALICE@IDP.TEST' });
  assert.deepEqual(render('{{ "x" if user.missing is defined else user.name ~ "!" }}'), { ok: true, value: 'Alice!' });
  assert.deepEqual(render('{{ 1 + 2 }} {{ 7 // 2 }} {{ 2 ** 3 }} {{ "a" + "b" }} {{ [1, 2] ~ "" }} {{ 3 > 2 }}'), { ok: true, value: '3 3 8 ab 1,2 true' });
  assert.deepEqual(render('{% set n = user.name | lower %}{{ n }}{% macro tag(x) %}<{{ x }}>{% endmacro %}{{ tag(n) }}'), { ok: true, value: 'alice<alice>' });
  assert.deepEqual(render('{{ range(3) | join(",") }} {{ user.groups | sort | join(",") }} {{ user.groups | dump }}'), { ok: true, value: '0,1,2 ops,staff ["staff","ops"]' });
  assert.deepEqual(render('{{ user.name | default("?") }}{{ user.nope | default("?") }}{{ user.sub | replace("u-", "") | int + 1 }}'), { ok: true, value: 'Alice?2' });
  const own = renderTemplate('x', '{{ user.constructor }}:{{ user.__proto__ }}', {
    user: JSON.parse('{"constructor": "data", "__proto__": "also data"}') as Record<string, unknown>,
  });
  assert.deepEqual(own, { ok: true, value: 'data:also data' });
});

test('expensive templates stop with a template error instead of hanging the server', () => {
  // In a child process: on a renderer without limits these exhaust memory or spin for minutes.
  const templates = [
    '{% for i in range(1000000000) %}{% endfor %}',
    '{{ range(1000000000) | length }}',
    '{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}',
    '{% set l = [0,1,2,3,4,5,6,7,8,9] %}{% for a in l %}{% for b in l %}{% for c in l %}{% for d in l %}{% for e in l %}{% for f in l %}{% for g in l %}{% for h in l %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}',
    '{{ "x" | center(1000000000) }}', '{{ "x" | indent(1000000000) }}', '{{ [1] | batch(1000000000, 0) | length }}', '{{ [1] | slice(1000000000) | length }}',
    `{% set s = "xxxxxxxxxxxxxxxx" %}${'{% set s = s ~ s %}'.repeat(30)}{{ s | length }}`,
    `{% set s = "xxxxxxxxxxxxxxxx" %}${'{% set s = s + s %}'.repeat(30)}{{ s }}`,
    `{% set l = [1] %}${'{% set l = [l, l] %}'.repeat(60)}{{ l ~ "" }}`,
    `{% set l = [1] %}${'{% set l = [l, l] %}'.repeat(60)}{{ l | dump | length }}`,
    `{% set l = [1] %}${'{% set l = [l, l] %}'.repeat(60)}{{ l == "x" }}{{ l }}`,
    '{{ "ab" | replace("", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") | replace("", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy") | replace("", "zzzzzzzzzzzzzzzzzzzzzzzzzzzz") | length }}',
    '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}',
    `{% macro a() %}xx{% endmacro %}${Array.from({ length: 40 }, (_, i) => `{% macro m${i}() %}{{ ${i === 0 ? 'a' : `m${i - 1}`}() }}{{ ${i === 0 ? 'a' : `m${i - 1}`}() }}{% endmacro %}`).join('')}{{ m39() | length }}`,
    `{% set x = "${'x'.repeat(4000)}" %}{% for i in range(10000) %}{{ x }}{% endfor %}`,
    `{% for i in range(10000) %}${'y'.repeat(4000)}{% endfor %}`,
    '{{ user.sub.split("") | length }}{{ user.sub.replaceAll("", "xxxxxxxxxxxxxxxx") }}',
    // The claims are the provider's (a user's display name, say): filters must stay linear in them.
    '{{ user.spaces | trim | length }}', '{{ user.tags | striptags | length }}', '{{ user.comments | striptags | length }}',
    '{{ user.spaces | striptags(true) | length }}', '{{ user.spaces | title | length }}', '{{ user.spaces | wordcount }}', '{{ user.spaces | urlize | length }}',
    // A claims object with a `length` key is not a list or a string, whatever nunjucks' filters assume.
    ...['center', 'truncate', 'batch(3)', 'slice(3)', 'reverse', 'sort', 'select', 'reject', 'groupby("a")', 'list', 'first', 'last', 'random', 'length',
      'join', 'sum', 'selectattr("a")', 'dictsort', 'urlencode', 'title', 'lower', 'escape', 'indent', 'wordcount', 'string', 'dump', 'split', 'b64encode']
      .map((filter) => `{{ user.long | ${filter} }}{{ [user.long] | ${filter} }}`),
  ];
  const claims = fileURLToPath(new URL('./index.ts', import.meta.url));
  const script = `
    import { renderTemplate } from ${JSON.stringify(pathToFileURL(claims).href)};
    const templates = ${JSON.stringify(templates)};
    const user = { sub: 'u-1', spaces: 'x' + ' '.repeat(200000) + 'x', tags: '<a'.repeat(100000), comments: '<!--'.repeat(50000), long: { length: 1e9, a: 1 } };
    for (const template of templates) {
      const started = performance.now();
      const out = renderTemplate('localpart', template, { user });
      const ms = Math.round(performance.now() - started);
      console.log(JSON.stringify({ template: template.slice(0, 60), ok: out.ok, length: out.ok ? (out.value ?? '').length : 0, reason: out.ok ? undefined : out.error.reason, ms }));
    }`;
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, ['--import', 'tsx', '--max-old-space-size=512', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { signal?: string; status?: number; stdout?: string; stderr?: string };
    assert.fail(`the renderer did not finish (signal ${e.signal}, status ${e.status}): ${String(e.stdout).slice(-2000)} ${String(e.stderr).slice(-2000)}`);
  }
  const results = stdout.trim().split('\n').map((line) => JSON.parse(line) as { template: string; ok: boolean; length: number; reason?: string; ms: number });
  assert.equal(results.length, templates.length);
  for (const result of results) {
    assert.ok(result.ms < 2000, `${result.template} took ${result.ms} ms`);
    assert.ok(!result.ok || result.length <= 65_536, `${result.template} rendered ${result.length} characters`);
  }
  // The unbounded ones are refused with a reason the operator can act on.
  assert.match(results[0].reason ?? '', /limit|too (long|large|many|expensive)|exceed/i);
  assert.match(results[1].reason ?? '', /limit|too (long|large|many|expensive)|exceed/i);
});
