import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImportAction } from '../config/types.js';
import type { ImportedAttribute } from './claims.js';
import {
  decideExistingLink,
  decideLinkStep,
  decideRegistration,
  planAccountEmail,
  planResync,
  registrationChoice,
  type RegistrationFacts,
} from './link.js';

const imported = (action: ImportAction, value?: string): ImportedAttribute => ({
  ...(action === 'ignore' || value === undefined ? {} : { value }),
  action,
  forced: action === 'force' || action === 'require',
});

const facts = (overrides: Partial<RegistrationFacts> = {}): RegistrationFacts => ({
  localpart: imported('suggest', 'alice'),
  displayname: imported('suggest', 'Alice'),
  email: imported('suggest', 'alice@idp.test'),
  onConflict: 'fail',
  skipConfirmation: false,
  ...overrides,
});

const alice = { id: 'U1', username: 'alice' };

describe('decideLinkStep', () => {
  it('signs a linked subject in, reusing the session of the same user', () => {
    assert.deepEqual(decideLinkStep({ linkedUserId: 'U1' }), { kind: 'sign-in', userId: 'U1', browserSession: 'new' });
    assert.deepEqual(decideLinkStep({ linkedUserId: 'U1', currentUserId: 'U1' }), { kind: 'sign-in', userId: 'U1', browserSession: 'current' });
  });

  it('refuses a subject linked to another account than the signed-in one', () => {
    assert.deepEqual(decideLinkStep({ linkedUserId: 'U1', currentUserId: 'U2' }), { kind: 'mismatch', linkedUserId: 'U1', currentUserId: 'U2' });
  });

  it('offers to link a signed-in account, and registers anyone else', () => {
    assert.deepEqual(decideLinkStep({ currentUserId: 'U2' }), { kind: 'offer-link', currentUserId: 'U2' });
    assert.deepEqual(decideLinkStep({}), { kind: 'register' });
  });
});

describe('decideRegistration: on_conflict, for a forced localpart that names an existing account', () => {
  for (const action of ['force', 'require'] as const) {
    it(`fail refuses to link (${action})`, () => {
      assert.deepEqual(decideRegistration(facts({ localpart: imported(action, 'alice'), existing: alice, onConflict: 'fail' })), {
        kind: 'conflict',
        reason: 'not-linked',
        userId: 'U1',
        username: 'alice',
      });
    });
  }

  for (const onConflict of ['add', 'replace', 'set'] as const) {
    it(`${onConflict} links the existing account`, () => {
      assert.deepEqual(decideRegistration(facts({ localpart: imported('require', 'alice'), existing: alice, onConflict })), { kind: 'link', userId: 'U1', onConflict });
    });

    it(`${onConflict} does not link when the provider's name differs in case`, () => {
      assert.deepEqual(decideRegistration(facts({ localpart: imported('force', 'Alice'), existing: alice, onConflict })), {
        kind: 'conflict',
        reason: 'case-differs',
        userId: 'U1',
        username: 'alice',
      });
    });
  }

  it('fail with a name that differs in case says the account is not linked', () => {
    assert.equal((decideRegistration(facts({ localpart: imported('force', 'ALICE'), existing: alice })) as { reason: string }).reason, 'not-linked');
  });
});

describe('decideExistingLink', () => {
  it('add links beside other links, replace removes them first', () => {
    assert.deepEqual(decideExistingLink('add', 2), { kind: 'link', replaceLinks: false });
    assert.deepEqual(decideExistingLink('replace', 2), { kind: 'link', replaceLinks: true });
    assert.deepEqual(decideExistingLink('replace', 0), { kind: 'link', replaceLinks: true });
  });

  it('set links only an account that has no link to the provider', () => {
    assert.deepEqual(decideExistingLink('set', 0), { kind: 'link', replaceLinks: false });
    assert.deepEqual(decideExistingLink('set', 1), { kind: 'conflict', reason: 'already-linked' });
  });
});

describe('decideRegistration: localpart actions', () => {
  it('asks the homeserver about a free name first, then offers it lower-cased', () => {
    assert.deepEqual(decideRegistration(facts({ localpart: imported('suggest', 'Alice') })), { kind: 'ask-homeserver', localpart: 'alice' });
    const decided = decideRegistration(facts({ localpart: imported('suggest', 'Alice'), homeserverAvailable: true }));
    assert.equal(decided.kind, 'register');
    assert.deepEqual(decided.kind === 'register' && decided.suggestions.localpart, { value: 'alice', action: 'suggest', forced: false });
  });

  it('suggest: a taken, refused or unavailable name is dropped and the user chooses', () => {
    for (const extra of [{ existing: alice }, { policyProblem: 'This username is not allowed' }, { homeserverAvailable: false }]) {
      const decided = decideRegistration(facts(extra));
      assert.equal(decided.kind, 'register');
      assert.equal(decided.kind === 'register' && decided.suggestions.localpart.value, undefined);
    }
  });

  for (const action of ['force', 'require'] as const) {
    it(`${action}: a refused or unavailable name stops the sign-in`, () => {
      assert.deepEqual(decideRegistration(facts({ localpart: imported(action, 'Alice'), policyProblem: 'not allowed' })), {
        kind: 'unavailable',
        localpart: 'alice',
        problem: 'not allowed',
      });
      assert.deepEqual(decideRegistration(facts({ localpart: imported(action, 'alice'), homeserverAvailable: false })), {
        kind: 'unavailable',
        localpart: 'alice',
        problem: undefined,
      });
    });

    it(`${action}: a free name is registered as given, lower-cased`, () => {
      const decided = decideRegistration(facts({ localpart: imported(action, 'Bob'), homeserverAvailable: true }));
      assert.deepEqual(decided.kind === 'register' && decided.suggestions.localpart, { value: 'bob', action, forced: true });
    });
  }

  it('ignore: no name is imported and nothing is asked', () => {
    const decided = decideRegistration(facts({ localpart: imported('ignore'), existing: alice }));
    assert.deepEqual(decided, { kind: 'register', suggestions: { localpart: imported('ignore'), displayname: imported('suggest', 'Alice'), email: imported('suggest', 'alice@idp.test') } });
  });

  it('skip_confirmation without a usable name cannot register', () => {
    assert.deepEqual(decideRegistration(facts({ localpart: imported('require'), skipConfirmation: true })), { kind: 'missing-localpart' });
    assert.equal(decideRegistration(facts({ localpart: imported('require', 'bob'), skipConfirmation: true, homeserverAvailable: true })).kind, 'register');
  });
});

describe('registrationChoice', () => {
  const suggestions = { localpart: imported('suggest', 'alice'), displayname: imported('suggest', 'Alice'), email: imported('force', 'alice@idp.test') };

  it('takes the typed name and the ticked suggestions; forced imports without asking', () => {
    assert.deepEqual(registrationChoice(suggestions, { username: ' Carol ', import_display_name: 'on' }), {
      localpart: 'carol',
      displayName: 'Alice',
      email: 'alice@idp.test',
    });
    assert.deepEqual(registrationChoice(suggestions, { username: 'carol' }), { localpart: 'carol', displayName: undefined, email: 'alice@idp.test' });
  });

  it('a forced localpart wins over the form', () => {
    assert.equal(registrationChoice({ ...suggestions, localpart: imported('require', 'alice') }, { username: 'mallory' }).localpart, 'alice');
  });
});

describe('planAccountEmail', () => {
  it('creates at once without an address, or with one that is verified or not required', () => {
    assert.deepEqual(planAccountEmail({ verified: false, emailRequired: true, emailAction: 'suggest' }), { kind: 'create' });
    assert.deepEqual(planAccountEmail({ email: 'a@x.test', verified: true, emailRequired: true, emailAction: 'suggest' }), {
      kind: 'create',
      email: { address: 'a@x.test', verified: true },
    });
    assert.deepEqual(planAccountEmail({ email: 'a@x.test', verified: false, emailRequired: false, emailAction: 'suggest' }), {
      kind: 'create',
      email: { address: 'a@x.test', verified: false },
    });
  });

  it('proves an unverified address by mail first when e-mail is required', () => {
    assert.deepEqual(planAccountEmail({ email: 'a@x.test', verified: false, emailRequired: true, emailAction: 'force' }), { kind: 'verify-email', email: 'a@x.test' });
  });

  it('the link remembers a forced or required address as imported', () => {
    for (const emailAction of ['force', 'require'] as const) {
      assert.equal((planAccountEmail({ email: 'a@x.test', verified: true, emailRequired: false, emailAction }) as { importedEmail?: string }).importedEmail, 'a@x.test');
    }
  });
});

describe('planResync', () => {
  const base = {
    displayname: imported('force', 'Alice Liddell'),
    email: imported('ignore'),
    emailVerified: false,
    user: { displayName: 'Alice' },
    link: { importedEmail: null },
  };

  it('a forced display name follows the provider', () => {
    assert.deepEqual(planResync(base), { displayName: 'Alice Liddell', link: { humanAccountName: null, importedEmail: null }, provision: true });
  });

  it('an unchanged forced display name changes nothing', () => {
    assert.deepEqual(planResync({ ...base, user: { displayName: 'Alice Liddell' } }), { link: { humanAccountName: null, importedEmail: null }, provision: false });
  });

  it('a suggested display name stays as the user left it; an empty forced one too', () => {
    assert.equal(planResync({ ...base, displayname: imported('suggest', 'Alice Liddell') }).displayName, undefined);
    assert.equal(planResync({ ...base, displayname: imported('force') }).provision, false);
  });

  it('a forced e-mail that changed replaces the one imported before', () => {
    const plan = planResync({ ...base, displayname: imported('ignore'), email: imported('force', 'new@idp.test'), emailVerified: true, link: { importedEmail: 'old@idp.test' }, accountName: 'alice@idp' });
    assert.deepEqual(plan, {
      email: { remove: 'old@idp.test', add: 'new@idp.test', verified: true },
      link: { humanAccountName: 'alice@idp', importedEmail: 'new@idp.test' },
      provision: true,
    });
  });

  it('a forced e-mail that differs only in case is the same address', () => {
    const plan = planResync({ ...base, displayname: imported('ignore'), email: imported('require', 'Old@idp.test'), link: { importedEmail: 'old@idp.test' } });
    assert.equal(plan.email, undefined);
    assert.equal(plan.provision, false);
  });
});
