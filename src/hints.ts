/**
 * One wording of each hint that several commands give (check, test-alert, doctor, init), so the
 * same problem always gets the same advice.
 */

export const GET_KEY = 'the Integration Key from PagerDuty → Service → Integrations → Events API v2';

/**
 * A routing key that is missing (unset variable, missing or empty file). The key file comes first:
 * a NAME=value line at the top of the crontab hands the key to every job in that crontab.
 */
export function missingKeyHint(ref: `env:${string}` | `file:${string}`): string {
  if (ref.startsWith('file:')) return `write ${GET_KEY} into ${ref.slice(5)} (mode 600, owned by the user that runs medic)`;
  const name = ref.slice(4);
  return `${KEY_FILE_ADVICE}; or export ${name}=<the key> in this shell, and in the crontab put ${name}=<the key> in front of medic on the check line only (a line of its own hands the key to every job in the crontab)`;
}

/** The recommended way to give Medic its key. */
export const KEY_FILE_ADVICE = `put ${GET_KEY} in a file only the user that runs medic can read (chmod 600) and name it in the target's "routingKeyFile"`;

/** An events URL that could not be reached at all (no HTTP answer). */
export const UNREACHABLE_HINT = "check that this machine can reach PagerDuty over HTTPS (firewall, DNS, HTTPS_PROXY), and the target's eventsUrl";

/** NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off for every request Node makes. */
export const TLS_OFF_HINT =
  'unset NODE_TLS_REJECT_UNAUTHORIZED wherever medic runs (shell, crontab, service unit); to trust a private CA (a TLS-inspecting proxy), set NODE_EXTRA_CA_CERTS=/path/to/ca.pem instead';

/** Whether an environment turns Node's certificate checks off. */
export function tlsChecksOff(env: Record<string, string | undefined>): boolean {
  return env.NODE_TLS_REJECT_UNAUTHORIZED === '0';
}
