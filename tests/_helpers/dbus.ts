/**
 * A private D-Bus session bus with no service folders: nothing owns
 * org.freedesktop.secrets on it and nothing can be started on demand, so a
 * Secret Service is absent for sure. Used by the keyring tests and by the
 * benchmark's cold-start row on such a bus.
 */

/** The `dbus-daemon` configuration of such a bus, listening in `dir`. */
export function bareBusConfig(dir: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}
