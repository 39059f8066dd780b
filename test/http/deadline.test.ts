// The request deadline: a request still unanswered after `database.request_deadline` gets 503
// with Retry-After in its endpoint's protocol, and the handler's late answer goes nowhere
// (no crash, no second response).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { withDeadline } from '../../src/http/unavailable.js';
import { englishText, type Message } from '../../src/web/i18n.js';
import type { Renderer } from '../../src/web/render.js';

const renderer: Pick<Renderer, 'render'> = {
  render: (page, context) => `<html><body>${page}: ${englishText(context?.message as Message)}</body></html>`,
};

let server: Server;
let base: string;
const late: Promise<void>[] = [];
/** Short, so the suite is quick; the late answer comes well after it, whatever the machine's load. */
const DEADLINE_SECONDS = 0.2;
const LATE_MS = 500;
const lateErrors: unknown[] = [];

before(async () => {
  // Every request answers after LATE_MS, past the deadline; /fast answers at once.
  const handler = withDeadline(
    (req, res) => {
      if (req.url === '/fast') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('fast');
        return;
      }
      late.push(
        new Promise<void>((resolve) =>
          setTimeout(() => {
            // A real handler would throw this from deep inside a promise chain: a crash.
            try {
              res.setHeader('x-late', '1');
              res.writeHead(200, { 'content-type': 'text/plain' });
              res.write('too ');
              res.end('late');
            } catch (err) {
              lateErrors.push(err);
            } finally {
              resolve();
            }
          }, LATE_MS),
        ),
      );
    },
    { seconds: DEADLINE_SECONDS, renderer, log: pino({ level: 'silent' }) },
  );
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await Promise.all(late);
  await new Promise((resolve) => server.close(resolve));
});

async function get(path: string) {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type') ?? '', late: res.headers.get('x-late'), text: await res.text() };
}

test('OAuth endpoints get temporarily_unavailable JSON', async () => {
  const answer = await get('/oauth2/token');
  assert.equal(answer.status, 503);
  assert.equal(answer.retryAfter, '5');
  assert.match(answer.type, /^application\/json/);
  assert.equal(JSON.parse(answer.text).error, 'temporarily_unavailable');
});

test('Matrix compatibility routes get M_UNKNOWN', async () => {
  const answer = await get('/_matrix/client/v3/login');
  assert.equal(answer.status, 503);
  assert.equal(answer.retryAfter, '5');
  assert.equal(JSON.parse(answer.text).errcode, 'M_UNKNOWN');
});

test('pages get the HTML error page', async () => {
  const answer = await get('/login');
  assert.equal(answer.status, 503);
  assert.equal(answer.retryAfter, '5');
  assert.match(answer.type, /^text\/html/);
  assert.match(answer.text, /^<html><body>error: The service is temporarily unavailable/);
});

test('the handler writing after the deadline changes nothing and throws nothing', async () => {
  const answer = await get('/oauth2/introspect');
  await Promise.all(late);
  assert.deepEqual(lateErrors, []);
  assert.equal(answer.status, 503);
  assert.equal(answer.late, null);
  assert.doesNotMatch(answer.text, /late/);
});

test('a request answered in time is left alone', async () => {
  const answer = await get('/fast');
  assert.deepEqual([answer.status, answer.text, answer.retryAfter], [200, 'fast', null]);
});
