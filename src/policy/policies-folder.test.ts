// policies/ at the top of the repository documents the policies: its data.yaml must be the
// defaults, name every key the policies read, and give examples the policies accept; every
// policy has its README.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { POLICY_DATA_KEYS, buildPolicyData } from '../domain/policy-data.js';

const POLICIES = fileURLToPath(new URL('../../policies/', import.meta.url));
const text = readFileSync(`${POLICIES}data.yaml`, 'utf8');
const base = { server_name: 'example.com' };

test('policies/data.yaml is the default data and names every key the policies read', () => {
  const yaml = YAML.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(yaml).sort(), [...POLICY_DATA_KEYS].sort());
  const fromYaml = buildPolicyData(base, [yaml]);
  assert.deepEqual(fromYaml.problems, []);
  assert.deepEqual(fromYaml.data, buildPolicyData(base, [{}]).data);
});

test('every example in policies/data.yaml is accepted for the key it is written above', () => {
  const stack: { indent: number; key: string }[] = [];
  let example: string | undefined;
  let checked = 0;
  for (const line of text.split('\n')) {
    const found = /#.*Example: (.*)$/.exec(line);
    if (found) example = found[1];
    const key = /^( *)([a-z_]+):/.exec(line);
    if (!key) continue;
    const indent = key[1].length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: key[2] });
    if (example === undefined) continue;
    const data = stack.reduceRight<unknown>((value, { key: k }) => ({ [k]: value }), YAML.parse(example));
    const built = buildPolicyData(base, [data as Record<string, unknown>]);
    assert.deepEqual(built.problems, [], `${stack.map((s) => s.key).join('.')}: ${example}`);
    example = undefined;
    checked += 1;
  }
  assert.ok(checked >= 8, `only ${checked} examples found`);
});

test('each policy has a README', () => {
  for (const name of ['register', 'email', 'client_registration', 'authorization_grant', 'compat_login', 'common']) {
    assert.ok(existsSync(`${POLICIES}${name}/README.md`), name);
  }
});
