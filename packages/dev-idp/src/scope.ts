// RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR.
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/** True for a well-formed scope string. The empty string (no scope) is allowed. */
export function isValidScope(scope: string): boolean {
  return scope === '' || SCOPE.test(scope);
}
