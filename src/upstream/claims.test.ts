import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimsContext, renderTemplate, templateSyntaxError } from '../domain/claims-template/index.js';
import { emailVerified, importAttribute, renderSubject } from './claims.js';

const context = claimsContext({
  idTokenClaims: { sub: 'u-1', preferred_username: 'alice', email: 'alice@idp.test', email_verified: true },
  userinfoClaims: { sub: 'u-1', name: 'Alice Liddell', preferred_username: 'from-userinfo', upn: 'alice@corp.test' },
  extraCallbackParameters: { user: '{"name":{"firstName":"Alice","lastName":"Liddell"}}' },
});

test('user merges the ID token over userinfo; the parts stay available', () => {
  assert.deepEqual(renderTemplate('x', '{{ user.preferred_username }} {{ user.name }}', context), { ok: true, value: 'alice Alice Liddell' });
  assert.deepEqual(renderTemplate('x', '{{ userinfo_claims.preferred_username }}', context), { ok: true, value: 'from-userinfo' });
  assert.deepEqual(renderTemplate('x', '{{ id_token_claims.sub }}', context), { ok: true, value: 'u-1' });
});

test("MAS's filters: b64decode, b64encode, string, from_json, tlvdecode, split", () => {
  const render = (t: string) => renderTemplate('x', t, context);
  assert.deepEqual(render("{{ 'cGFkZGluZw==' | b64decode }}"), { ok: true, value: 'padding' });
  assert.deepEqual(render("{{ 'dW5wYWRkZWQ' | b64decode }}"), { ok: true, value: 'unpadded' });
  assert.deepEqual(render("{{ 'hi' | b64encode }}"), { ok: true, value: 'aGk=' });
  assert.deepEqual(
    render("{%- set tlv = 'Cg0wLTM4NS0yODA4OS0wEgRtb2Nr' | b64decode | tlvdecode -%}{{ tlv[18] | string }}:{{ tlv[10] | string }}"),
    { ok: true, value: 'mock:0-385-28089-0' },
  );
  assert.deepEqual(
    render('{%- set u = extra_callback_parameters["user"] | from_json -%}{{- u.name.firstName }} {{ u.name.lastName -}}'),
    { ok: true, value: 'Alice Liddell' },
  );
  assert.deepEqual(render("{{ (user.upn | split('@'))[0] }}"), { ok: true, value: 'alice' });
  assert.deepEqual(render('{{ user.email_verified | string }}'), { ok: true, value: 'true' });
});

test('empty results are undefined; broken templates and bad input are errors, not exceptions', () => {
  assert.deepEqual(renderTemplate('x', '{{ user.missing }}', context), { ok: true, value: undefined });
  const bad = renderTemplate('displayname', "{{ 'not base64!' | b64decode }}", context);
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.error.message : '', /claims_imports\.displayname: .*b64decode/);
  assert.equal(renderTemplate('x', '{{ nope(', context).ok, false);
  assert.match(templateSyntaxError('{{ user.name ') ?? '', /expected|unexpected/i);
  assert.equal(templateSyntaxError('{{ user.name }}'), undefined);
});

test('actions: ignore renders nothing, require fails on empty, force and suggest do not', () => {
  assert.deepEqual(importAttribute('localpart', { action: 'ignore' }, context).attribute, { action: 'ignore', forced: false });
  assert.deepEqual(importAttribute('localpart', { action: 'force' }, context).attribute, { value: 'alice', action: 'force', forced: true });
  const required = importAttribute('email', { action: 'require', template: '{{ user.nothing }}' }, context);
  assert.ok(required.problem);
  assert.match(required.problem.operatorMessage, /claims_imports\.email/);
  const suggested = importAttribute('displayname', { action: 'suggest', template: '{{ nope( }}' }, context);
  assert.equal(suggested.problem, undefined);
  assert.ok(suggested.warning);
  assert.equal(suggested.attribute.value, undefined);
});

test('subject and e-mail verification', () => {
  assert.deepEqual(renderSubject(undefined, context), { ok: true, value: 'u-1' });
  assert.equal(renderSubject(undefined, claimsContext({ idTokenClaims: {} })).ok, false);
  const imports = (mode?: 'always' | 'never' | 'import') =>
    ({ email: { action: 'suggest', template: '{{ user.email }}', set_email_verification: mode } }) as never;
  assert.equal(emailVerified(imports(), context), true);
  assert.equal(emailVerified(imports('never'), context), false);
  assert.equal(emailVerified(imports(), claimsContext({ idTokenClaims: { email_verified: false } })), false);
  assert.equal(emailVerified(imports('always'), claimsContext({ idTokenClaims: { email_verified: false } })), true);
});

test('templates cannot reach constructors, prototypes or the process', () => {
  for (const template of [
    '{{ range.constructor("return process.env.HOME")() }}',
    '{{ user.sub.constructor.constructor("return process.pid")() }}',
    '{{ user["constructor"]["constructor"]("return 1")() }}',
    '{{ user.__proto__ }}',
    '{{ (cycler).call }}',
  ]) {
    const out = renderTemplate('subject', template, { user: { sub: 'abc' } });
    if (out.ok) {
      assert.ok(!/\/root|\/home|^\d+$/.test(out.value ?? ''), `${template} → ${out.value}`);
      assert.ok(!String(out.value ?? '').includes('function'), `${template} → ${out.value}`);
    }
  }
  const safe = renderTemplate('localpart', '{{ user.preferred_username | lower }}', { user: { preferred_username: 'Alice' } });
  assert.deepEqual(safe, { ok: true, value: 'alice' });
});
