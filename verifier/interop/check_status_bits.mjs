// Runs the README's status-bit decoding (extracted into build/status-bits.mjs by the test):
// reads {"statusListJwt", "jwks", "uri", "indexes", "now"} on stdin, prints the statuses.
import { tokenStatus } from "./build/status-bits.mjs";

const input = JSON.parse(await new Response(process.stdin).text());
const now = input.now ? new Date(input.now * 1000) : new Date();
const statuses = [];
for (const idx of input.indexes) {
  statuses.push(await tokenStatus(input.statusListJwt, input.jwks, input.uri, idx, now));
}
process.stdout.write(JSON.stringify(statuses));
