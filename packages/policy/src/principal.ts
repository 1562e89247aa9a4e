/**
 * Who a verified MCP token acts for. A person is a user row created at sign-in (issuer = the IdP,
 * subject = the IdP's subject). A service principal is a machine client of the tenant's own
 * authorization server (OAuth `client_credentials`): its token names `sub` = `svc:<client_id>`, never a
 * user id (our user ids are UUIDs, so the two can never collide), and it is recorded as a user row of
 * the reserved issuer below (subject = the client id), so limits, call records and audit rows name it
 * like anyone else. That issuer is a URN, never an OpenID issuer (those are https URLs), so no IdP's
 * subject can land on a service principal's row.
 */
export type PrincipalKind = 'person' | 'service';

export const SERVICE_PRINCIPAL_ISSUER = 'urn:mcprt:service-client';
export const SERVICE_SUBJECT_PREFIX = 'svc:';

/** The access token `sub` of a machine client's token. */
export const serviceSubject = (clientId: string): string => `${SERVICE_SUBJECT_PREFIX}${clientId}`;

/** The client id a service `sub` names, or undefined for any other subject. */
export function serviceClientOf(subject: string): string | undefined {
  return subject.startsWith(SERVICE_SUBJECT_PREFIX) && subject.length > SERVICE_SUBJECT_PREFIX.length
    ? subject.slice(SERVICE_SUBJECT_PREFIX.length)
    : undefined;
}

/** A user row's kind: the reserved issuer marks a service principal. */
export const principalKind = (user: { issuer: string }): PrincipalKind => (user.issuer === SERVICE_PRINCIPAL_ISSUER ? 'service' : 'person');
