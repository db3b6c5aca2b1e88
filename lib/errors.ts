/**
 * Every error code the control plane can return, registered in one place.
 *
 * A code is never reused for another meaning and never renamed: scripts and
 * the CLI match on it. The packet path never throws; it returns drop reasons
 * and bumps counters instead (see stats.ts).
 */

export interface ErrorKind {
  /** Stable code, `VIMAGE_ERR_...`. */
  readonly code: string;
  /** The errno a FreeBSD tool would report for the same failure. */
  readonly errno: string;
  /** HTTP status the control API answers with. */
  readonly status: number;
}

function kind(code: string, errno: string, status: number): ErrorKind {
  return { code: `VIMAGE_ERR_${code}`, errno, status };
}

export const E = {
  BAD_REQUEST: kind('BAD_REQUEST', 'EINVAL', 400),
  BAD_ARGUMENT: kind('BAD_ARGUMENT', 'EINVAL', 400),
  BAD_NAME: kind('BAD_NAME', 'EINVAL', 400),
  NOT_FOUND: kind('NOT_FOUND', 'ENOENT', 404),
  NO_SUCH_IMAGE: kind('NO_SUCH_IMAGE', 'ESRCH', 404),
  NO_SUCH_INTERFACE: kind('NO_SUCH_INTERFACE', 'ENXIO', 404),
  NO_SUCH_ROUTE: kind('NO_SUCH_ROUTE', 'ESRCH', 404),
  NO_SUCH_ADDRESS: kind('NO_SUCH_ADDRESS', 'EADDRNOTAVAIL', 404),
  NO_SUCH_ENTRY: kind('NO_SUCH_ENTRY', 'ENOENT', 404),
  NO_SUCH_SYSCTL: kind('NO_SUCH_SYSCTL', 'ENOENT', 404),
  NO_SUCH_COMMAND: kind('NO_SUCH_COMMAND', 'ENOENT', 404),
  NO_SUCH_PROCESS: kind('NO_SUCH_PROCESS', 'ESRCH', 404),
  IMAGE_EXISTS: kind('IMAGE_EXISTS', 'EEXIST', 409),
  INTERFACE_EXISTS: kind('INTERFACE_EXISTS', 'EEXIST', 409),
  ROUTE_EXISTS: kind('ROUTE_EXISTS', 'EEXIST', 409),
  ADDRESS_EXISTS: kind('ADDRESS_EXISTS', 'EEXIST', 409),
  IMAGE_IS_DEFAULT: kind('IMAGE_IS_DEFAULT', 'EPERM', 409),
  SAME_IMAGE: kind('SAME_IMAGE', 'EEXIST', 409),
  NOT_MOVABLE: kind('NOT_MOVABLE', 'EINVAL', 409),
  NOT_DESTROYABLE: kind('NOT_DESTROYABLE', 'EINVAL', 409),
  NETWORK_UNREACHABLE: kind('NETWORK_UNREACHABLE', 'ENETUNREACH', 409),
  READ_ONLY: kind('READ_ONLY', 'EPERM', 409),
  OUT_OF_RANGE: kind('OUT_OF_RANGE', 'EINVAL', 400),
  DEVICE: kind('DEVICE', 'EIO', 500),
  PERMISSION: kind('PERMISSION', 'EPERM', 403),
  INTERNAL: kind('INTERNAL', 'EIO', 500),
  LIMIT: kind('LIMIT', 'EAGAIN', 429),
  /** The API: a path that exists, asked with a method it does not take. */
  METHOD_NOT_ALLOWED: kind('METHOD_NOT_ALLOWED', 'EINVAL', 405),
  /** The API: a request body over the endpoint's limit. */
  TOO_LARGE: kind('TOO_LARGE', 'E2BIG', 413),
  /** Bad command-line arguments (exit status 64, EX_USAGE), in `vimage` or an in-image command. */
  USAGE: kind('USAGE', 'EINVAL', 400),
  /** An in-image command failed; its message says why (exit status 1 or the command's own). */
  COMMAND_FAILED: kind('COMMAND_FAILED', 'EIO', 500),
  /** `vimage` cannot reach vimaged (exit status 69). */
  UNAVAILABLE: kind('UNAVAILABLE', 'ECONNREFUSED', 503),
  /** `vimage` cannot read, parse or write a local file (exit status 65, 66 or 73). */
  FILE: kind('FILE', 'EIO', 400),
  /** A setting that can change only while the interface is down (a running vxlan's VNI, addresses, ports). */
  INTERFACE_BUSY: kind('INTERFACE_BUSY', 'EBUSY', 409),
  /** ipfw: no lookup table of that name in the image. */
  NO_SUCH_TABLE: kind('NO_SUCH_TABLE', 'ESRCH', 404),
  /** ipfw: `table NAME create` for a name that exists. */
  TABLE_EXISTS: kind('TABLE_EXISTS', 'EEXIST', 409),
  /** ipfw: a table that rules refer to cannot be destroyed. */
  TABLE_BUSY: kind('TABLE_BUSY', 'EBUSY', 409),
  /** ipfw: entries of a locked table cannot change (`table NAME unlock`). */
  TABLE_LOCKED: kind('TABLE_LOCKED', 'EACCES', 409),
  /** ipfw: tables of different types or value types (swap, or a rule that needs another type). */
  TABLE_MISMATCH: kind('TABLE_MISMATCH', 'EINVAL', 400),
} as const satisfies Record<string, ErrorKind>;

export type ErrorName = keyof typeof E;

/** A control-plane error: a stable code, an errno, and a message that says what to do. */
export class VimageError extends Error {
  readonly code: string;
  readonly errno: string;
  readonly status: number;

  constructor(k: ErrorKind, message: string) {
    super(message);
    this.name = 'VimageError';
    this.code = k.code;
    this.errno = k.errno;
    this.status = k.status;
  }
}

export function fail(k: ErrorKind, message: string): never {
  throw new VimageError(k, message);
}
