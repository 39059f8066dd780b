import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBucket, trustProxy } from './client-address.js';

test('IPv6 addresses are counted per /64, IPv4 (mapped or not) per address', () => {
  const same = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:7', '2001:DB8:1:2::a%eth0'];
  for (const ip of same) assert.equal(addressBucket(ip), '2001:db8:1:2::/64', ip);
  assert.equal(addressBucket('2001:db8:1:3::1'), '2001:db8:1:3::/64');
  assert.equal(addressBucket('::1'), '0:0:0:0::/64');
  assert.equal(addressBucket('::'), '0:0:0:0::/64');
  assert.equal(addressBucket('1::'), '1:0:0:0::/64');
  assert.equal(addressBucket('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
  assert.equal(addressBucket('64:ff9b:1:2::192.0.2.1'), '64:ff9b:1:2::/64');
  assert.equal(addressBucket('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressBucket('::ffff:c000:201'), '192.0.2.1');
  assert.equal(addressBucket('192.0.2.1'), '192.0.2.1');
  assert.equal(addressBucket(undefined), 'unknown');
  assert.equal(addressBucket(''), 'unknown');
});

test('X-Forwarded-For is believed from the listed networks and from a UNIX-socket peer only', () => {
  const trust = trustProxy(['10.0.0.0/8', '::1', 'fd00::/8', '192.0.2.7']);
  assert.equal(trust('10.1.2.3', 0), true);
  assert.equal(trust('::ffff:10.1.2.3', 0), true);
  assert.equal(trust('::1', 1), true);
  assert.equal(trust('fd12::3', 0), true);
  assert.equal(trust('192.0.2.7', 0), true);
  assert.equal(trust('192.0.2.8', 0), false);
  assert.equal(trust('11.0.0.1', 0), false);
  assert.equal(trust('2001:db8::1', 0), false);
  assert.equal(trust('not an address', 1), false);
  // A UNIX socket has no peer address: only the local reverse proxy can connect to it.
  assert.equal(trust(undefined, 0), true);
  assert.equal(trust(undefined, 1), false);
  const none = trustProxy([]);
  assert.equal(none('127.0.0.1', 0), false);
  assert.equal(none(undefined, 0), true);
});
