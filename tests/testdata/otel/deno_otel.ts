// Run by tests/unit/telemetry_test.ts under OTEL_DENO=true: one token through
// a session whose events go to OpenTelemetry, exported by Deno itself.
import { AuthSession } from "../../../mod.ts";
import { openTelemetryListener } from "../../../telemetry.ts";

const session = new AuthSession({
  authServer: Deno.env.get("KOGNIC_TEST_AUTH_SERVER"),
  onEvent: await openTelemetryListener(),
});
await session.getAccessToken();
