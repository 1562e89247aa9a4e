export { AppError, isAppError, toAppError } from './app-error.js';
export type { AppErrorOptions, ErrorKind } from './app-error.js';
