// A full password pool (accounts/hash-pool.ts) is answered 429 with Retry-After in the protocol of
// the endpoint: Matrix M_LIMIT_EXCEEDED with retry_after_ms, the admin API's {errors: [{title}]},
// OAuth error JSON, and a translated HTML page.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { PasswordsBusy } from '../../src/accounts/hash-pool.js';
import type { Config } from '../../src/config/types.js';
import { busyAnswer, errorFormat } from '../../src/http/unavailable.js';
import { createRenderer } from '../../src/web/render.js';

const renderer = createRenderer({
  templates: {},
  branding: { service_name: 'Test' },
  matrix: { homeserver: 'example.org' },
  email: { transport: 'smtp' },
} as unknown as Config);

const busy = new PasswordsBusy(2500);
const request = (language: string) => ({ url: '/login', headers: { 'accept-language': language } }) as unknown as IncomingMessage;

test('the legacy login answers M_LIMIT_EXCEEDED with retry_after_ms and Retry-After in whole seconds', () => {
  const answer = busyAnswer(errorFormat('/_matrix/client/v3/login'), renderer, busy);
  assert.equal(answer.status, 429);
  assert.equal(answer.headers['Retry-After'], '3');
  assert.equal(answer.contentType, 'json');
  const body = JSON.parse(answer.body);
  assert.equal(body.errcode, 'M_LIMIT_EXCEEDED');
  assert.equal(body.retry_after_ms, 2500);
  assert.match(body.error, /try again/);
});

test("the admin API answers in MAS's error shape", () => {
  const answer = busyAnswer(errorFormat('/api/admin/v1/users/01H/set-password'), renderer, busy);
  assert.equal(answer.status, 429);
  assert.equal(answer.headers['Retry-After'], '3');
  const body = JSON.parse(answer.body);
  assert.deepEqual(Object.keys(body), ['errors']);
  assert.match(body.errors[0].title, /try again/);
});

test('an OAuth endpoint answers OAuth error JSON', () => {
  const answer = busyAnswer(errorFormat('/oauth2/token'), renderer, busy);
  assert.equal(answer.status, 429);
  assert.equal(JSON.parse(answer.body).error, 'temporarily_unavailable');
});

test('a browser page is a 429 page in the reader’s language', () => {
  const english = busyAnswer(errorFormat('/login'), renderer, busy, request('en'));
  assert.equal(english.status, 429);
  assert.equal(english.contentType, 'html');
  assert.equal(english.headers['Retry-After'], '3');
  assert.match(english.body, /Too many passwords are being checked right now\. Try again in 3 seconds\./);
  assert.match(english.body, /Too busy/);

  const german = busyAnswer(errorFormat('/register'), renderer, busy, request('de'));
  assert.match(german.body, /Gerade werden zu viele Passwörter geprüft\. Versuche es in 3 Sekunden erneut\./);
  assert.match(german.body, /Gerade ausgelastet/);
});
