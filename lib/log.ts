/**
 * The logger shape the stack uses: pino's, so the daemon passes a pino child
 * logger straight in, and tests pass `silentLogger`.
 */
export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  error(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
}

export const silentLogger: Logger = {
  child: () => silentLogger,
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
};
