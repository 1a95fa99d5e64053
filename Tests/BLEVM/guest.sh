#!/bin/sh
# The VM's first process (scripts/ble-vm): sets the machine up, starts the Bumble radio and
# devices (peripherals.py), runs the scenarios of this boot with the real ccm-gatewayd and
# ccmctl, prints `RESULT PASS|FAIL name detail` lines, and powers off. Boot 1 pairs and bonds
# (and restarts the daemon); boot 2 is a reboot on the same disk. Every wait is bounded.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc 2>/dev/null; mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null; mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
boot=$(sed -n 's/.*ccm\.boot=\([0-9]*\).*/\1/p' /proc/cmdline)
echo "GUEST START boot=$boot kernel=$(uname -r)"
finish() {
  sync
  echo "GUEST DONE boot=$boot"
  echo o >/proc/sysrq-trigger
  sleep 30
}
trap finish EXIT

modprobe bluetooth && modprobe hci_vhci || { echo "RESULT FAIL modules cannot load bluetooth/hci_vhci"; exit 1; }
# Every HCI packet and management command of the boot, for the tail a failed scenario prints.
btmon -w /tmp/hci.btsnoop >/dev/null 2>&1 &
cd /opt/ccm
state=/var/lib/ccm
mkdir -p "$state" /var/lib/bumble /var/log/ccm
db=$state/gateway.sqlite
cat >$state/gateway.yaml <<YAML
database:
  path: $db
practice:
  time_zone: UTC
careplans:
  directory: /opt/ccm/careplans
alerts:
  log: /var/log/ccm/alerts.log
mqtt:
  enabled: false
ble:
  interval: 1h
  connect_timeout: 20s
YAML
ctl() { timeout 60 ./ccmctl "$@" --config $state/gateway.yaml; }
pass() { echo "RESULT PASS $*"; }
fail() { echo "RESULT FAIL $*"; }
# check NAME COMMAND...: a scenario step that passes when the command succeeds.
check() {
  name=$1; shift
  started=$(date +%s.%N)
  if out=$("$@" 2>&1); then
    pass "$name ($(echo "$(date +%s.%N) - $started" | awk '{printf "%.1f", $1 - $3}') s)"
  else
    fail "$name: $(echo "$out" | tail -5 | tr '\n' '|')"
    # What the devices and the kernel saw, printed now: a later kernel BUG may end the boot.
    grep -v DEBUG /tmp/peripherals.log | tail -12 | sed "s/^/  [$name: peripherals] /"
    dmesg | grep -iE "bluetooth|hci0|smp" | tail -8 | sed "s/^/  [$name: dmesg] /"
    btmon -r /tmp/hci.btsnoop -T 2>/dev/null | grep -aE "^[<>@] |Status:|Reason:|Address:" |
      grep -avE "Number of Completed|ACL Data" | tail -60 | cut -c1-110 | sed "s/^/  [$name: hci] /"
  fi
  echo "$out" | sed "s/^/  [$name] /"
  sync  # the bonds on both sides (the database, Bumble's key stores) survive a boot cut short
}

CUFF=F0:00:00:00:00:01
METER=F0:00:00:00:00:02
PINMETER=F0:00:00:00:00:03
OPEN=F0:00:00:00:00:04
RPA=F0:00:00:00:00:05
SCALE=F0:00:00:00:00:06
OXIMETER=F0:00:00:00:00:07
# The RPA device bonds with its identity address in boot 1 and uses a resolvable private address in boot 2.
privacy=0; [ "$boot" = 2 ] && privacy=1
/opt/bumble/bin/python3 -u peripherals.py --keys /var/lib/bumble \
  name=cuff,profile=bps,security=justworks,address=$CUFF \
  name=meter,profile=gls,security=justworks,address=$METER \
  name=pinmeter,profile=gls,security=passkey,address=$PINMETER \
  name=openmeter,profile=gls,security=open,address=$OPEN \
  name=rpameter,profile=gls,security=justworks,address=$RPA,privacy=$privacy \
  name=scale,profile=wss,security=justworks,address=$SCALE \
  name=oximeter,profile=plxs,security=justworks,address=$OXIMETER \
  >/tmp/peripherals.log 2>&1 &
radio=$!
for i in $(seq 1 120); do grep -q "radio ready" /tmp/peripherals.log && break; sleep 0.5; done
grep -q "radio ready" /tmp/peripherals.log || { fail "radio: Bumble did not start"; cat /tmp/peripherals.log; exit 1; }
pass "radio: Bumble on /dev/vhci, hci0 present"

sync_device() { # sync_device ADDRESS [ble-sync options]: one session through the real kernel
  address=$1; shift
  timeout 90 ./ccm-gatewayd ble-sync "$address" --config $state/gateway.yaml --idle 3 --timeout 20 "$@"
}
stored() { ctl readings list --format csv 2>/dev/null | grep -c "$1" || true; }

if [ "$boot" = 1 ]; then
  ctl init >/dev/null
  ctl patients add P1 --name "VM Patient" >/dev/null || fail "register patient P1"
  for d in "$CUFF bp_monitor" "$METER glucometer" "$PINMETER glucometer" "$OPEN glucometer" "$RPA glucometer" "$SCALE scale" "$OXIMETER pulse_oximeter"; do
    set -- $d
    ctl devices add "$1" --kind "$2" --patient P1 >/dev/null || fail "register $1"
  done

  # ble-sync powers the adapter itself (no bluetoothd), learns the address type by scanning.
  check "open meter: adapter powered by ccm-gatewayd, address type heard, 6 records over L2CAP" sync_device $OPEN
  check "meter with Just Works pairing: paired, bonded, records stored" sync_device $METER
  check "cuff with Just Works pairing: indication stored" sync_device $CUFF
  check "passkey meter without a passkey: fails, named a security failure" sh -c "! ./ccm-gatewayd ble-sync $PINMETER --config $state/gateway.yaml --idle 3 --timeout 20 >/tmp/pin1.out 2>&1; cat /tmp/pin1.out; grep -q 'security failure' /tmp/pin1.out"
  check "passkey meter: pair --passkey 123456, then sync" sh -c "timeout 30 ./ccmctl devices pair $PINMETER --passkey 123456 --config $state/gateway.yaml && timeout 90 ./ccm-gatewayd ble-sync $PINMETER --config $state/gateway.yaml --idle 3 --timeout 20"
  check "rpa meter (identity address): paired, IRK stored" sync_device $RPA
  check "scale with Just Works pairing: weight indicated and stored" sh -c "timeout 90 ./ccm-gatewayd ble-sync $SCALE --config $state/gateway.yaml --idle 3 --timeout 20 | tee /tmp/scale.out; grep -q 'readings stored: 1 ' /tmp/scale.out"
  check "oximeter with Just Works pairing: 2 stored spot-checks (RACP, deleted), 1 live, 1 of 3 continuous" sh -c "timeout 90 ./ccm-gatewayd ble-sync $OXIMETER --config $state/gateway.yaml --idle 3 --timeout 20 | tee /tmp/oximeter.out; grep -q 'stored spot-checks on the oximeter: 2 (deleted' /tmp/oximeter.out && grep -q 'continuous measurements received: 3, stored: 1' /tmp/oximeter.out && grep -q 'readings stored: 4 ' /tmp/oximeter.out"
  check "bonds stored: 6 devices, no key material printed" sh -c "ctl() { timeout 60 ./ccmctl \"\$@\" --config $state/gateway.yaml; }; ctl devices bonds; test \$(ctl devices bonds --format csv | tail -n +2 | wc -l) -eq 6"

  # The daemon: restarts find the bonds (loaded from the database), no pairing again.
  before=$(grep -c "paired" /tmp/peripherals.log)
  timeout 130 ./ccm-gatewayd run --config $state/gateway.yaml >/tmp/daemon.log 2>&1 &
  daemon=$!
  for i in $(seq 1 100); do
    [ "$(grep -c 'BLE session complete' /tmp/daemon.log)" -ge 7 ] && break
    sleep 1
  done
  kill -TERM $daemon; wait $daemon
  sed 's/^/  [daemon] /' /tmp/daemon.log | tail -60
  [ "$(grep -c 'BLE session complete' /tmp/daemon.log)" -ge 7 ] && pass "daemon: all 7 devices synced in one run ($i s)" || fail "daemon: $(grep -c 'BLE session complete' /tmp/daemon.log) of 7 devices synced in $i s"
  after=$(grep -c "paired" /tmp/peripherals.log)
  if [ "$after" = "$before" ] && grep -q "bond keys loaded" /tmp/daemon.log; then pass "daemon restart: bonds loaded, devices synced without pairing again"; else fail "daemon restart: paired again ($before -> $after) or keys not loaded"; fi
  check "ccmctl status shows the adapter" sh -c "timeout 30 ./ccmctl status --config $state/gateway.yaml | grep -i -A3 bluetooth"
else
  before=$(grep -c "paired" /tmp/peripherals.log)
  check "after reboot: bonded meter syncs with its stored bond" sync_device $METER
  check "after reboot: bonded cuff syncs" sync_device $CUFF
  check "after reboot: passkey meter syncs without a passkey (bond)" sync_device $PINMETER
  check "after reboot: RPA meter recognised behind its resolvable private address" sh -c "timeout 90 ./ccm-gatewayd ble-sync $RPA --config $state/gateway.yaml --idle 3 --timeout 20 && grep 'rpameter connected' /tmp/peripherals.log | tail -1 | grep -v ' to F0:00:00:00:00:05'"
  after=$(grep -c "paired" /tmp/peripherals.log)
  [ "$after" = "$before" ] && pass "after reboot: no device paired again" || fail "after reboot: $((after - before)) pairings"
  # Beside bluetoothd: it owns the adapter and the keys; ccm-gatewayd only connects.
  mkdir -p /run/dbus && dbus-daemon --system --fork >/dev/null 2>&1
  /usr/libexec/bluetooth/bluetoothd -n >/tmp/bluetoothd.log 2>&1 &
  bluetoothd=$!
  sleep 3
  timeout 15 bluetoothctl power on
  check "beside bluetoothd: open meter syncs; ccm-gatewayd leaves the adapter to bluetoothd" sh -c "pidof bluetoothd && timeout 90 ./ccm-gatewayd ble-sync $OPEN --config $state/gateway.yaml --idle 3 --timeout 20 >/tmp/bt.out 2>&1; rc=\$?; cat /tmp/bt.out; [ \$rc = 0 ] && grep -q 'bluetoothd runs' /tmp/bt.out"
  kill -TERM $bluetoothd 2>/dev/null
fi
echo "--- peripherals"; sed 's/^/  /' /tmp/peripherals.log | grep -v DEBUG | tail -60
kill -INT $radio 2>/dev/null
dmesg | grep -iE "bluetooth|hci0|smp" | tail -20 | sed 's/^/  [dmesg] /'
exit 0
