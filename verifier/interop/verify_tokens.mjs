// Reads {"jwks", "issuer", "audience", "now", "tokens": [...]} on stdin and verifies each
// token with node's jose as any persona service would; prints one JSON result per token.
import { createLocalJWKSet, jwtVerify } from "jose";

const input = JSON.parse(await new Response(process.stdin).text());
const keys = createLocalJWKSet(input.jwks);
const results = [];
for (const token of input.tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer: input.issuer,
      audience: input.audience,
      typ: "age-bracket+jwt",
      algorithms: ["EdDSA", "Ed25519"],
      requiredClaims: ["exp", "nbf", "iat", "jti", "sub"],
      currentDate: input.now ? new Date(input.now * 1000) : undefined,
    });
    results.push({ ok: true, kid: protectedHeader.kid, payload });
  } catch (error) {
    results.push({ ok: false, code: error.code ?? error.name });
  }
}
process.stdout.write(JSON.stringify(results));
