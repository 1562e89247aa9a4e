import type { Account, FindAccount } from 'oidc-provider';

/** An end user the dev IdP knows. No passwords: tokens are minted, never logged in for. */
export interface DevAccount {
  sub: string;
  email: string;
  name: string;
}

export const DEFAULT_DEV_ACCOUNTS: readonly DevAccount[] = Object.freeze([
  { sub: 'alice', email: 'alice@example.test', name: 'Alice Example' },
  { sub: 'bob', email: 'bob@example.test', name: 'Bob Example' },
]);

/** Thrown when a token is requested for a `sub` the dev IdP does not list. */
export class UnknownAccountError extends Error {
  override readonly name = 'UnknownAccountError';

  constructor(readonly sub: string) {
    super(`unknown account: ${JSON.stringify(sub)}`);
  }
}

/** The accounts of one dev IdP instance, keyed by `sub`. */
export class AccountDirectory {
  readonly #bySub: ReadonlyMap<string, DevAccount>;

  constructor(accounts: readonly DevAccount[]) {
    const bySub = new Map<string, DevAccount>();
    for (const account of accounts) {
      if (!account.sub) throw new TypeError('a dev account needs a non-empty sub');
      if (bySub.has(account.sub)) throw new TypeError(`duplicate dev account sub: ${account.sub}`);
      bySub.set(account.sub, { ...account });
    }
    this.#bySub = bySub;
  }

  has(sub: string): boolean {
    return this.#bySub.has(sub);
  }

  /** Throws {@link UnknownAccountError} for an unlisted `sub`. */
  require(sub: string): DevAccount {
    const account = this.#bySub.get(sub);
    if (!account) throw new UnknownAccountError(sub);
    return account;
  }

  list(): DevAccount[] {
    return [...this.#bySub.values()].map((account) => ({ ...account }));
  }

  /**
   * oidc-provider's `findAccount`. The provider filters the returned claims by the granted
   * scopes (`claims` config maps openid→sub, email→email/email_verified, profile→name).
   */
  readonly findAccount: FindAccount = (_ctx, sub): Account | undefined => {
    const account = this.#bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: account.sub,
      claims: () => ({
        sub: account.sub,
        email: account.email,
        email_verified: true,
        name: account.name,
      }),
    };
  };
}
