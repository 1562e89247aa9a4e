export { AppError, isAppError, toAppError } from './app-error.js';
export type { AppErrorOptions, ErrorKind } from './app-error.js';
export { appError, ERRORS, errorSpec, isErrorCode } from './catalogue.js';
export type { ErrorBodyShape, ErrorCode, ErrorSpec } from './catalogue.js';
