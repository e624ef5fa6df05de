#!/usr/bin/env bash
# `shardnode testnet up|status|down`: a private Tor network of Debian tor processes
# on 127.0.0.1. Starts one, checks every node is alive and the consensus lists every
# relay as an HSDir, that every socket of every tor is on loopback, that a tampered
# client.torrc is rejected, that restart-node kills a relay and starts it again, then stops it and checks every recorded PID is gone.
# A trap runs `down` on any failure or interruption.
# Usage: testnet_test.sh <shardnode binary>
set -uo pipefail
BIN=$1
T=$(mktemp -d /tmp/sn-tnt-XXXXXX)
D=$T/net
cleanup() {
  if [ -f "$D/testnet.json" ]; then "$BIN" testnet down --dir "$D" >/dev/null 2>&1 || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fails=0
pass=0
ok()  { pass=$((pass+1)); echo "ok   - $*"; }
bad() { fails=$((fails+1)); echo "FAIL - $*"; }
finish() { echo "$pass passed, $fails failed"; [ $fails = 0 ]; exit $?; }

for b in tor tor-gencert; do
  command -v "$b" >/dev/null || { bad "$b not installed (Debian package tor: scripts/install-deps.sh)"; finish; }
done

# --- up ---------------------------------------------------------------------
start=$(date +%s%N)
"$BIN" testnet up --dir "$D" --timeout 240 --json >"$T/up.json" 2>"$T/up.err"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
took=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
if [ $rc = 0 ]; then
  ok "testnet up: ready in ${took} s ($(python3 -c "import json; print(json.load(open('$T/up.json'))['ready_seconds'])") s inside up)"
else
  bad "testnet up exited $rc after ${took} s: $(tail -c 3000 "$T/up.err")"
  finish
fi
grep -q "consensus: yes" "$T/up.err" && ok "progress lines on stderr (not a tty)" || bad "no progress output: $(head -c 300 "$T/up.err")"
PIDS=$(python3 -c "import json; print(' '.join(str(n['pid']) for n in json.load(open('$D/testnet.json'))['nodes']))")
NODES=$(echo $PIDS | wc -w)
[ "$NODES" = 7 ] && ok "7 nodes recorded (3 authorities, 4 relays): pids $PIDS" || bad "nodes: $PIDS"

# --- status -----------------------------------------------------------------
if "$BIN" testnet status --dir "$D" --json >"$T/status.json" 2>"$T/status.err"; then
  python3 - "$T/status.json" <<'PY' && ok "status: all alive, bootstrapped, consensus with every relay as HSDir" || bad "status: $(cat "$T/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s['state'] == 'running', s['state']
assert len(s['nodes']) == 7
for n in s['nodes']:
    assert n['alive'], n
    assert n['bootstrap'] == 100, n
c = s['consensus']
assert c['present'] and c['hsdirs'] >= 4 and c['relays'] == 4 and c['relays_with_hsdir'] == 4, c
assert s['ready'] and s['all_alive']
assert s['client_torrc']['ok'], s['client_torrc']
PY
else
  bad "status exited non-zero: $(cat "$T/status.err")"
fi
"$BIN" testnet status --dir "$D" >"$T/status.txt" 2>&1 && grep -q "ready: yes" "$T/status.txt" &&
  ok "status (text) says ready" || bad "status text: $(cat "$T/status.txt")"

# --- client.torrc -------------------------------------------------------------
C=$D/client.torrc
grep -qx "TestingTorNetwork 1" "$C" && [ "$(grep -c '^DirAuthority .* 127\.0\.0\.1:[0-9]* [0-9A-F]\{40\}$' "$C")" = 3 ] &&
  grep -qx "PathsNeededToBuildCircuits 0.67" "$C" && ! grep -qE '^(DataDirectory|SocksPort|Log|Nickname)' "$C" &&
  ok "client.torrc: TestingTorNetwork 1, 3 loopback DirAuthority lines, no node-owned options" || bad "client.torrc: $(cat "$C")"
grep -q "^TestingTorNetwork 1$" "$D"/a0/torrc && [ "$(grep -c '^DirAuthority ' "$D"/r3/torrc)" = 3 ] &&
  ok "node torrcs carry TestingTorNetwork 1 and the DirAuthority lines" || bad "node torrc"
cp "$C" "$T/client.good"
evil_line=$(( $(wc -l <"$C") + 1 ))
echo "DirAuthority evil orport=9001 no-v2 v3ident=$(printf 'A%.0s' {1..40}) 192.0.2.1:80 $(printf 'B%.0s' {1..40})" >>"$C"
"$BIN" testnet status --dir "$D" --json >"$T/tamper.json" 2>&1
python3 -c "
import json; s = json.load(open('$T/tamper.json'))['client_torrc']
assert not s['ok'] and 'client.torrc:$evil_line:' in s['error'] and 'not on loopback' in s['error'], s" &&
  ok "tampered client.torrc (public DirAuthority) rejected: $(python3 -c "import json; print(json.load(open('$T/tamper.json'))['client_torrc']['error'])")" ||
  bad "tamper 1: $(cat "$T/tamper.json")"
grep -v '^TestingTorNetwork' "$T/client.good" >"$C"
"$BIN" testnet status --dir "$D" --json >"$T/tamper.json" 2>&1
python3 -c "
import json; s = json.load(open('$T/tamper.json'))['client_torrc']
assert not s['ok'] and 'TestingTorNetwork 1' in s['error'], s" &&
  ok "client.torrc without TestingTorNetwork rejected" || bad "tamper 2: $(cat "$T/tamper.json")"
{ cat "$T/client.good"; echo "SocksPort 9050"; } >"$C"
"$BIN" testnet status --dir "$D" --json >"$T/tamper.json" 2>&1
python3 -c "
import json; s = json.load(open('$T/tamper.json'))['client_torrc']
assert not s['ok'] and \"option 'SocksPort'\" in s['error'], s" &&
  ok "client.torrc with a non-whitelisted option rejected" || bad "tamper 3: $(cat "$T/tamper.json")"
cp "$T/client.good" "$C"

# --- every socket of every tor is on loopback -----------------------------------
is_loop() {  # a hex address as in /proc/net/tcp{,6}: 127/8, ::1, ::ffff:127/8, or unset
  case "$1" in
    ??????7F|00000000|00000000000000000000000001000000|00000000000000000000000000000000) return 0 ;;
    0000000000000000FFFF0000??????7F) return 0 ;;
  esac
  return 1
}
listeners=0
nonloop=""
for pid in $PIDS; do
  for inode in $(ls -l /proc/"$pid"/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
    while read -r file local remote st; do
      lip=${local%:*}; rip=${remote%:*}
      if [ "$st" = 0A ]; then
        listeners=$((listeners+1))
        case "$lip" in ??????7F|00000000000000000000000001000000|0000000000000000FFFF0000??????7F) ;;
          *) nonloop="$nonloop pid $pid listens on $file $local;" ;; esac
      else
        is_loop "$lip" && is_loop "$rip" || nonloop="$nonloop pid $pid has $file $local -> $remote;"
      fi
    done < <(awk -v i="$inode" '$10 == i { print FILENAME, $2, $3, $4 }' /proc/net/tcp /proc/net/tcp6)
  done
done
[ "$listeners" = 10 ] && ok "10 listening sockets (7 ORPorts, 3 DirPorts)" || bad "listening sockets: $listeners (want 10)"
[ -z "$nonloop" ] && ok "every listening and connected TCP socket of every tor is on 127.0.0.1" || bad "non-loopback sockets:$nonloop"

# --- restart-node: a relay killed (SIGKILL) and started again ------------------------
OLD=$(python3 -c "import json; print([n['pid'] for n in json.load(open('$D/testnet.json'))['nodes'] if n['name']=='r5'][0])")
if "$BIN" testnet restart-node --dir "$D" --node r5 --kill --timeout 120 --json >"$T/restart.json" 2>"$T/restart.err"; then
  NEW=$(python3 -c "import json; r=json.load(open('$T/restart.json')); assert r['was_alive'] and r['old_pid']==$OLD; print(r['pid'])")
  REC=$(python3 -c "import json; print([n['pid'] for n in json.load(open('$D/testnet.json'))['nodes'] if n['name']=='r5'][0])")
  [ -n "$NEW" ] && [ "$NEW" != "$OLD" ] && [ "$REC" = "$NEW" ] && [ ! -e /proc/"$OLD"/cmdline -o "$(tr '\0' ' ' </proc/"$OLD"/cmdline 2>/dev/null | grep -c "$D/r5/torrc")" = 0 ] &&
    tr '\0' ' ' </proc/"$NEW"/cmdline | grep -q "$D/r5/torrc" &&
    ok "restart-node r5 --kill: pid $OLD killed, $NEW runs r5's torrc and is recorded ($(cat "$T/restart.json"))" ||
    bad "restart-node: old $OLD new '$NEW' recorded '$REC' $(cat "$T/restart.json")"
  PIDS=$(python3 -c "import json; print(' '.join(str(n['pid']) for n in json.load(open('$D/testnet.json'))['nodes']))")
  "$BIN" testnet status --dir "$D" --json >"$T/status3.json" 2>&1 &&
    python3 -c "import json; s=json.load(open('$T/status3.json')); assert all(n['alive'] for n in s['nodes']), s['nodes']" &&
    ok "status after the restart: every node alive" || bad "status after restart: $(head -c 800 "$T/status3.json")"
else
  bad "restart-node exited non-zero: $(tail -c 1500 "$T/restart.err")"
fi
"$BIN" testnet restart-node --dir "$D" --node r99 >"$T/restart2.out" 2>&1
[ $? = 2 ] && grep -q "no node 'r99' (nodes: a0 a1 a2 r3 r4 r5 r6)" "$T/restart2.out" &&
  ok "restart-node of an unknown node: usage error (exit 2) naming the nodes" || bad "restart r99: $(cat "$T/restart2.out")"

# --- a second up on a running testnet is refused ------------------------------------
"$BIN" testnet up --dir "$D" --timeout 30 >"$T/up2.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "already running\|is running in" "$T/up2.out" && ok "second up refused while running" ||
  bad "second up: exit $rc $(cat "$T/up2.out")"

# --- down ---------------------------------------------------------------------
gone() {  # /proc/<pid> missing, a zombie, or no longer that tor
  local p=$1
  [ -e /proc/"$p" ] || return 0
  [ "$(awk '{print $3}' /proc/"$p"/stat 2>/dev/null)" = Z ] && return 0
  tr '\0' '\n' </proc/"$p"/cmdline 2>/dev/null | grep -qF "$D/" || return 0
  return 1
}
"$BIN" testnet down --dir "$D" >"$T/down.out" 2>&1 && ok "down: $(cat "$T/down.out")" || bad "down failed: $(cat "$T/down.out")"
left=""
for pid in $PIDS; do gone "$pid" || left="$left $pid"; done
[ -z "$left" ] && ok "every recorded tor pid is gone" || bad "still running:$left"
grep -q '"state": "stopped"' "$D/testnet.json" && ok "state marked stopped" || bad "state: $(grep state "$D/testnet.json")"
"$BIN" testnet down --dir "$D" >"$T/down2.out" 2>&1 && ok "down again is a no-op" || bad "second down: $(cat "$T/down2.out")"
"$BIN" testnet status --dir "$D" --json >"$T/status2.json" 2>&1 &&
  python3 -c "import json; s=json.load(open('$T/status2.json')); assert not any(n['alive'] for n in s['nodes']) and not s['ready']" &&
  ok "status after down: nothing alive" || bad "status after down: $(cat "$T/status2.json")"
"$BIN" testnet status --dir "$T/none" >"$T/none.out" 2>&1
[ $? = 1 ] && grep -q "no testnet" "$T/none.out" && ok "status on an empty directory explains" || bad "status none: $(cat "$T/none.out")"

# --- a tor that exits while starting: up fails, names it, stops the others ------
W=$T/wrap
mkdir -p "$W"
cat >"$W/tor" <<'WRAPPER'
#!/usr/bin/env bash
# Test wrapper: relay r4 fails at once; every other invocation is the real tor.
case "$*" in *"/r4/torrc"*) echo "wrapper: r4 refuses to start" >&2; exit 3 ;; esac
exec /usr/bin/tor "$@"
WRAPPER
chmod +x "$W/tor"
ln -s "$(command -v tor-gencert)" "$W/tor-gencert"
D=$T/bad   # for the trap, too
PATH="$W:$PATH" "$BIN" testnet up --dir "$D" --timeout 60 >"$T/bad.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "node r4 .*exited (exit status 3)" "$T/bad.out" && grep -q "r4 refuses to start" "$T/bad.out" &&
  ok "a tor exiting early fails up, naming the node and its log tail" || bad "early exit: rc $rc $(tail -c 1500 "$T/bad.out")"
BADPIDS=$(python3 -c "import json; print(' '.join(str(n['pid']) for n in json.load(open('$D/testnet.json'))['nodes']))")
left=""
for pid in $BADPIDS; do gone "$pid" || left="$left $pid"; done
[ -z "$left" ] && grep -q '"state": "failed"' "$D/testnet.json" && ok "after that failure no tor of it runs (pids $BADPIDS)" ||
  bad "after the failure still running:$left"

finish
