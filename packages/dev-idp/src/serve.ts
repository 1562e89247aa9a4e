/**
 * Runs the dev IdP until SIGINT/SIGTERM, for the developer quick-start:
 *   tsx packages/dev-idp/src/serve.ts --port 4000
 * Prints the issuer on stdout (one line) so scripts can capture it.
 */
import { startDevIdp } from './dev-idp.js';
import { DEV_MINT_PATH } from './dev-mint-route.js';
import { DEV_LOGIN_CLIENT } from './login-page.js';
import { SERVE_USAGE, parseServeArgs } from './serve-args.js';

let args;
try {
  args = parseServeArgs(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${SERVE_USAGE}`);
  process.exit(2);
}

const { loginRedirects, ...listen } = args;
const idp = await startDevIdp({
  ...listen,
  ...(loginRedirects ? { loginClients: [{ ...DEV_LOGIN_CLIENT, redirectUris: loginRedirects }] } : {}),
});
console.log(idp.issuer);
console.error(`dev IdP up: accounts ${idp.accounts.map((a) => a.sub).join(', ')}; ` + `mint tokens with POST ${idp.issuer}${DEV_MINT_PATH}`);

const shutdown = (signal: NodeJS.Signals): void => {
  console.error(`dev IdP: ${signal}, closing`);
  idp.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
