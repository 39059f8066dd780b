import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress, summaryLines } from './progress.js';

function output(isTTY: boolean) {
  const written: string[] = [];
  const logged: string[] = [];
  return {
    written,
    logged,
    out: { stream: { isTTY, write: (text: string) => written.push(text) }, log: (_fields: Record<string, unknown>, message: string) => logged.push(message) },
  };
}

test('on a terminal, a bar redrawn in place, one line per phase', () => {
  const { out, written, logged } = output(true);
  const progress = new Progress(out);
  const phase = progress.start('users', 4);
  phase.add(2);
  phase.skip('guests');
  progress.end();
  assert.deepEqual(logged, []);
  assert.ok(written.every((w) => w === '\n' || w.startsWith('\r\x1b[K')), 'redrawn in place');
  assert.match(written.at(-2)!, /users\s+\[#{23}-{7}\] 3\/4$/);
  assert.equal(written.at(-1), '\n');
});

test('elsewhere, log lines: at the start, periodically with the count, at the end', () => {
  const { out, written, logged } = output(false);
  const progress = new Progress(out);
  const phase = progress.start('devices', 200);
  phase.add(50);
  progress.tick();
  progress.end();
  assert.deepEqual(written, []);
  assert.deepEqual(logged, ['migrating devices', 'migrating devices: 50/~200 (~25.0%)', 'devices: done']);
});

test('the summary lists what moved and what was skipped, and says when nothing was written', () => {
  const progress = new Progress(output(false).out);
  const users = progress.start('users', 3);
  users.add(2);
  users.skip('guests');
  users.skip('application service users');
  const lines = summaryLines(progress.phases(), true);
  assert.equal(lines[0], 'Dry run: nothing was written. The migration would have moved:');
  assert.match(lines[1], /^ {2}users\s+2 {2}\(skipped: 1 application service users, 1 guests\)$/);
});
