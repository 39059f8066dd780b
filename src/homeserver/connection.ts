// What Mauth needs from the homeserver: create and update accounts, and keep the homeserver's
// device list in step with Mauth's sessions. One implementation per `matrix.kind`.

/** A user as the homeserver sees it (`GET /_synapse/mas/query_user`). */
export interface MatrixUser {
  user_id: string;
  display_name: string | null;
  avatar_url: string | null;
  is_suspended: boolean;
  is_deactivated: boolean;
}

export type LocalpartAvailability = { available: true } | { available: false; errcode: string };

export interface ProvisionRequest {
  localpart: string;
  /** A string sets the display name, `null` clears it, `undefined` leaves it alone. */
  displayName?: string | null;
  /** A string sets the avatar, `null` clears it, `undefined` leaves it alone. */
  avatarUrl?: string | null;
  /** The complete list of (verified) addresses; `[]` removes them all, `undefined` leaves them alone. */
  emails?: string[];
  locked?: boolean;
}

export interface HomeserverConnection {
  readonly serverName: string;
  /** `@localpart:serverName` */
  mxid(localpart: string): string;
  /** `undefined` when the homeserver does not know the user. */
  queryUser(localpart: string): Promise<MatrixUser | undefined>;
  isLocalpartAvailable(localpart: string): Promise<LocalpartAvailability>;
  /** Creates the user or updates it; `created` tells which. */
  provisionUser(request: ProvisionRequest): Promise<{ created: boolean }>;
  /** Creates the device or, when it exists, leaves it (updating its name when one is given). */
  upsertDevice(localpart: string, deviceId: string, displayName?: string): Promise<{ created: boolean }>;
  updateDeviceDisplayName(localpart: string, deviceId: string, displayName: string): Promise<void>;
  /** Succeeds for devices the homeserver does not know. */
  deleteDevice(localpart: string, deviceId: string): Promise<void>;
  /** Makes the user's device list exactly `deviceIds`, adding and removing as needed. */
  syncDevices(localpart: string, deviceIds: string[]): Promise<void>;
  /** Deactivates the account; `erase` also marks its data as erased (GDPR). */
  deleteUser(localpart: string, erase: boolean): Promise<void>;
  reactivateUser(localpart: string): Promise<void>;
  setDisplayname(localpart: string, displayname: string): Promise<void>;
  unsetDisplayname(localpart: string): Promise<void>;
  /** Lets the user replace their cross-signing keys without interactive auth for a while. */
  allowCrossSigningReset(localpart: string): Promise<void>;
}

/**
 * A failed homeserver call. `status` is the HTTP status, or 0 when no response arrived
 * (network error, timeout); `errcode` is the Matrix error code when the body carried one.
 */
export class HomeserverError extends Error {
  override readonly name = 'HomeserverError';

  constructor(
    readonly status: number,
    readonly errcode: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
