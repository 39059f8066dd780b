// MSC4191: clients open the account management URL with `?action=` (and `device_id` for the
// device actions) to take the user straight to one place. The stable names and the unstable
// `session_*` ones Element clients still send mean the same thing. Anything else is the home page.

export const DEEP_LINK_ACTIONS = [
  'org.matrix.profile',
  'org.matrix.devices_list',
  'org.matrix.device_view',
  'org.matrix.device_delete',
  'org.matrix.sessions_list',
  'org.matrix.session_view',
  'org.matrix.session_end',
  'org.matrix.cross_signing_reset',
  'org.matrix.account_deactivate',
] as const;

export type DeepLink =
  | { kind: 'home' }
  | { kind: 'page'; path: string }
  /** A device's session: shown, or (`end`) the confirmation before signing it out. */
  | { kind: 'device'; deviceId: string; end: boolean };

const PAGES: Record<string, string> = {
  'org.matrix.profile': '/account/profile',
  'org.matrix.devices_list': '/account/sessions',
  'org.matrix.sessions_list': '/account/sessions',
  'org.matrix.cross_signing_reset': '/account/cross-signing',
  'org.matrix.account_deactivate': '/account/deactivate',
};

const DEVICE_ACTIONS: Record<string, { end: boolean }> = {
  'org.matrix.device_view': { end: false },
  'org.matrix.session_view': { end: false },
  'org.matrix.device_delete': { end: true },
  'org.matrix.session_end': { end: true },
};

export function parseDeepLink(query: Record<string, unknown>): DeepLink {
  const action = typeof query.action === 'string' ? query.action : undefined;
  if (!action) return { kind: 'home' };
  if (Object.hasOwn(PAGES, action)) return { kind: 'page', path: PAGES[action] };
  if (Object.hasOwn(DEVICE_ACTIONS, action)) {
    const deviceId = typeof query.device_id === 'string' ? query.device_id.trim() : '';
    // Without a device, the list of them is the nearest place.
    if (!deviceId) return { kind: 'page', path: '/account/sessions' };
    return { kind: 'device', deviceId, end: DEVICE_ACTIONS[action].end };
  }
  return { kind: 'home' };
}
