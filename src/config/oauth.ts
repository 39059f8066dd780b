// `oauth`: OAuth 2.0 protocol options, as in MAS (its `oauth` section): the device authorization
// grant (RFC 8628) that QR login and TV-style sign-ins use.
import { boolean } from './formats.js';
import type { Section } from './section.js';

export const oauthSchema = {
  device_code_grant_enabled: boolean(
    'Serve the device authorization grant: /oauth2/device, the /link page, and the grant at the token endpoint',
    true,
  ),
  device_code_user_code_auto_fill_enabled: boolean(
    'Answer device authorization requests with a verification_uri_complete that fills in the code on /link',
    false,
  ),
};

export const oauth: Section<'oauth'> = {
  key: 'oauth',
  description: [
    'OAuth 2.0 options. `device_code_grant_enabled`: the device authorization grant (QR login);',
    'when off, discovery does not advertise it and registrations asking for it lose it.',
    '`device_code_user_code_auto_fill_enabled`: also hand out /link?code=… (the code filled in).',
  ],
  schema: oauthSchema,
};
