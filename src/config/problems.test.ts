import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, joinKey, parentKey, ProblemList, Provenance } from './problems.js';

test('key paths join names with dots and indexes with brackets', () => {
  assert.equal(joinKey(joinKey(joinKey(joinKey('', 'http'), 'listeners'), 0), 'binds'), 'http.listeners[0].binds');
  assert.equal(parentKey('http.listeners[0].binds'), 'http.listeners[0]');
  assert.equal(parentKey('http.listeners[0]'), 'http.listeners');
  assert.equal(parentKey('http'), '');
  assert.equal(parentKey(''), undefined);
});

test('problems name the file that set the nearest enclosing key', () => {
  const provenance = new Provenance();
  provenance.set('http', 'a.yaml');
  provenance.set('http.listeners', 'b.yaml');
  const problems = new ProblemList(provenance);
  problems.at('http').at('listeners').at(0).error('bad', 'port');
  problems.at('http').warn('odd', 'bogus');
  problems.at('matrix').error('missing', 'secret');
  assert.deepEqual(problems.errors, [
    { key: 'http.listeners[0].port', file: 'b.yaml', message: 'bad' },
    { key: 'matrix.secret', message: 'missing' },
  ]);
  assert.deepEqual(problems.warnings, [{ key: 'http.bogus', file: 'a.yaml', message: 'odd' }]);

  provenance.clear('http');
  assert.equal(provenance.originOf('http.listeners[0]'), undefined);
});

test('a ConfigError lists its problems in its message', () => {
  const error = new ConfigError([{ key: 'secrets.encryption', file: 'c.yaml', message: 'too short' }]);
  assert.match(error.message, /secrets\.encryption \(c\.yaml\): too short/);
  assert.equal(error.problems.length, 1);
});
