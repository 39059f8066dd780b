// `username_rewrite` (Mauth addition, after mxisd): login names that fully match a rule's regex
// are looked up as a third-party identifier of the rule's medium instead of as a username.
import { listOf, string } from './formats.js';
import { required, shape } from './schema.js';
import type { Section } from './section.js';

const rule = shape({
  schema: {
    regex: required(string('Regular expression the whole login name must match', undefined, { nonEmpty: true })),
    medium: required(string('Medium to look the login name up in (email, or any medium stored with `mauth manage add-threepid`)', undefined, { nonEmpty: true })),
  },
  check(value, report) {
    if (value.regex === undefined) report.error('is required', 'regex');
    else {
      try {
        new RegExp(value.regex);
      } catch (err) {
        report.error(`is not a valid regular expression: ${(err as Error).message}`, 'regex');
      }
    }
    if (value.medium === undefined) report.error('is required', 'medium');
  },
});

export const usernameRewriteSchema = {
  rules: listOf('Ordered rewrite rules', rule),
};

export const usernameRewrite: Section<'username_rewrite'> = {
  key: 'username_rewrite',
  description: [
    'Mauth addition: log in with another identifier. Rules are tried in order; a login name that',
    'fully matches `regex` is looked up as a third-party identifier of `medium`, e.g.',
    "  rules: [{ regex: '^[0-9]+$', medium: employee_id }]",
  ],
  schema: usernameRewriteSchema,
};
