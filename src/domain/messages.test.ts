import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageSyntaxError, Translator, acceptedLanguages, compileCatalogue, literalSegments, msg, negotiateLanguage, parseMessage, placeholders } from './messages.js';

function translator(lang: string, ...files: unknown[]): Translator {
  return new Translator(lang, files.map((f) => compileCatalogue(f).catalogue));
}

describe('message syntax', () => {
  test('placeholders and plurals parse; their names are listed', () => {
    const parts = parseMessage('Hi {name}, {n, plural, =0 {nothing} one {# item for {name}} other {# items}} left');
    assert.deepEqual([...placeholders(parts)].sort(), ['n', 'name']);
    assert.deepEqual(literalSegments(parts), ['Hi ', ', ', 'nothing', ' item for ', ' items', ' left']);
  });

  for (const bad of ['{', 'a }', '{1x}', '{n, select, a {b}}', '{n, plural, one {x}}', '{n, plural, few {x} few {y} other {z}}', '{n, plural, lots {x} other {y}}', '{n, plural, other {x}']) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseMessage(bad), MessageSyntaxError);
    });
  }

  test('a catalogue file is flattened to dotted keys, notes skipped, broken messages reported with their key', () => {
    const { catalogue, problems } = compileCatalogue({ '@': 'notes', a: { b: 'x', '@b': 'note', c: { d: 'y' } }, bad: '{oops', list: [1] });
    assert.deepEqual([...catalogue.keys()].sort(), ['a.b', 'a.c.d']);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^bad: unclosed \{/);
    assert.match(problems[1]!, /^list: must be an object/);
  });
});

describe('formatting', () => {
  const en = { minutes: '{n, plural, =0 {now} one {# minute} other {# minutes}}', hello_html: 'Hello <strong>{name}</strong>', plain: 'a < b {x}', nested: 'Because: {why}' };
  const de = { minutes: '{n, plural, one {# Minute} other {# Minuten}}' };

  test('plural branches follow the language, with exact matches first', () => {
    const t = translator('en', en);
    assert.equal(t.text('minutes', { n: 0 }), 'now');
    assert.equal(t.text('minutes', { n: 1 }), '1 minute');
    assert.equal(t.text('minutes', { n: 15 }), '15 minutes');
    assert.equal(translator('de', de, en).text('minutes', { n: 1 }), '1 Minute');
  });

  test('a message missing in a language falls back along the chain, and an unknown key shows as it is', () => {
    const t = translator('de', de, en);
    assert.equal(t.text('hello_html', { name: 'x' }), 'Hello <strong>x</strong>');
    assert.equal(t.text('No such key.'), 'No such key.');
    assert.equal(t.html('<b>raw</b>'), '&lt;b&gt;raw&lt;/b&gt;');
  });

  test('HTML: an _html message keeps its markup and escapes its parameters; any other message is escaped whole', () => {
    const t = translator('en', en);
    assert.equal(t.html('hello_html', { name: '<script>' }), 'Hello <strong>&lt;script&gt;</strong>');
    assert.equal(t.html('plain', { x: '&' }), 'a &lt; b &amp;');
    assert.equal(t.text('plain', { x: '&' }), 'a < b &');
  });

  test('a Message parameter is translated in place', () => {
    const t = translator('en', en);
    assert.equal(t.text(msg('nested', { why: msg('minutes', { n: 2 }) })), 'Because: 2 minutes');
  });
});

describe('choosing a language', () => {
  test('Accept-Language ranges by quality, q=0 dropped, ties in order', () => {
    assert.deepEqual(acceptedLanguages('fr;q=0.5, de-AT, en;q=0.8, es;q=0, it'), ['de-AT', 'it', 'en', 'fr']);
    assert.deepEqual(acceptedLanguages(undefined), []);
  });

  test('exact tag, then the primary language, then a regional variant; * and unknown ones choose nothing', () => {
    const available = ['en', 'de', 'pt-BR'];
    assert.equal(negotiateLanguage('de-AT,en;q=0.5', available), 'de');
    assert.equal(negotiateLanguage('PT', available), 'pt-BR');
    assert.equal(negotiateLanguage('fr, en;q=0.1', available), 'en');
    assert.equal(negotiateLanguage('fr, *', available), undefined);
    assert.equal(negotiateLanguage('*', available), undefined);
  });
});
