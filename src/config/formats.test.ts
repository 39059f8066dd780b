import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUri } from './database.js';
import { isIpNetwork, isUlid } from './formats.js';
import { parseAddress, withTrailingSlash } from './http.js';
import { isMailbox } from './email.js';

test('ULIDs are 26 Crockford base32 characters within 128 bits', () => {
  for (const id of ['01HFVBY12TMNTYTBV8W921M5FA', '0000000000000000000SYNAPSE', '7ZZZZZZZZZZZZZZZZZZZZZZZZZ', '01hfvby12tmntytbv8w921m5fa']) assert.ok(isUlid(id), id);
  for (const id of ['01HFVBY12TMNTYTBV8W921M5F', '01HFVBY12TMNTYTBV8W921M5FI', '81HFVBY12TMNTYTBV8W921M5FA', '01HFVBY12TMNTYTBV8W921M5FU', '']) assert.ok(!isUlid(id), id);
});

test('bind addresses are host:port with bracketed IPv6', () => {
  assert.deepEqual(parseAddress('[::]:8080'), { host: '::', port: 8080 });
  assert.deepEqual(parseAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseAddress('127.0.0.1:8081'), { host: '127.0.0.1', port: 8081 });
  assert.deepEqual(parseAddress('localhost:65535'), { host: 'localhost', port: 65535 });
  for (const address of ['::1:8080', '8080', ':8080', 'localhost:65536', 'localhost:', '[::]', 'a b:80']) assert.equal(parseAddress(address), undefined, address);
});

test('trusted proxies are addresses or CIDR ranges', () => {
  for (const value of ['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::1/128', '0.0.0.0/0']) assert.ok(isIpNetwork(value), value);
  for (const value of ['10.0.0.0/33', '::1/129', 'example.com', '10.0.0.0/8/8', '10.0.0.0/x', '']) assert.ok(!isIpNetwork(value), value);
});

test('public URLs gain a trailing slash', () => {
  assert.equal(withTrailingSlash('https://auth.example.com'), 'https://auth.example.com/');
  assert.equal(withTrailingSlash('https://example.com/auth'), 'https://example.com/auth/');
  assert.equal(withTrailingSlash('https://example.com/auth/'), 'https://example.com/auth/');
});

test('database URIs keep everything but the password', () => {
  assert.equal(redactUri('postgresql://mauth:s3cr%40t@db:5432/mauth?sslmode=require'), 'postgresql://mauth:<redacted>@db:5432/mauth?sslmode=require');
  assert.equal(redactUri('postgres://db/mauth?user=a&password=b&x=1'), 'postgres://db/mauth?user=a&password=<redacted>&x=1');
  assert.equal(redactUri('postgresql://mauth@db/mauth'), 'postgresql://mauth@db/mauth');
});

test('mailboxes may carry a display name', () => {
  for (const value of ['root@localhost', '"Authentication Service" <root@localhost>', 'Auth <auth@example.com>']) assert.ok(isMailbox(value), value);
  for (const value of ['root', '"Name" <>', 'a b@c']) assert.ok(!isMailbox(value), value);
});
