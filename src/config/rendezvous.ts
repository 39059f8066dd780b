// `rendezvous` (Mauth's own, MAS has no such section): limits of the built-in QR-login
// rendezvous served by the `rendezvous` listener resource. The per-IP creation rate is
// `rate_limiting.rendezvous`.
import { integer } from './formats.js';
import type { Section } from './section.js';

export const rendezvousSchema = {
  // Each session holds at most 4 KiB for at most two minutes: the default caps the table near 40 MiB.
  max_sessions: integer('Rendezvous sessions open at once, across all instances; further creations get 503 until one expires', 10_000, {
    min: 1,
  }),
};

export const rendezvous: Section<'rendezvous'> = {
  key: 'rendezvous',
  description: [
    'Mauth addition: the rendezvous for QR login (MSC4108, MSC4388), served by the `rendezvous`',
    'listener resource from the database, so every instance shares it. `max_sessions` caps the',
    'sessions open at once; `rate_limiting.rendezvous` limits creations per source IP.',
  ],
  schema: rendezvousSchema,
};
