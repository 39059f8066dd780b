// The paths the access log and the 503 warnings show: ids that work as credentials are left out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loggedPath } from '../../src/http/observability.js';

test('a device sign-in request is logged without its id, whatever the case of the path', () => {
  assert.equal(loggedPath('/device/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/device/…');
  assert.equal(loggedPath('/DEVICE/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/DEVICE/…');
  assert.equal(loggedPath('/link'), '/link');
  assert.equal(loggedPath('/oauth2/device'), '/oauth2/device');
});

test('a rendezvous session is logged without its id', () => {
  assert.equal(loggedPath('/_synapse/client/rendezvous/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/_synapse/client/rendezvous/…');
});
