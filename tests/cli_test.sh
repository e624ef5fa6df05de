#!/usr/bin/env bash
# The CLI as a user runs it: keygen, id, config, version, selfcheck, and that no
# key material reaches stdout, stderr, our log file or tor's log.
# Usage: cli_test.sh <shardnode binary> <source dir>
set -uo pipefail
BIN=$1
SRC=$2
T=$(mktemp -d /tmp/sn-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok()   { pass=$((pass+1)); echo "ok   - $*"; }
bad()  { fails=$((fails+1)); echo "FAIL - $*"; }
expect_rc() { local want=$1; shift; "$@" >"$T/out" 2>"$T/err"; local rc=$?; [ "$rc" = "$want" ] || { echo "  (exit $rc, want $want) stdout: $(head -c 400 "$T/out") stderr: $(head -c 400 "$T/err")"; return 1; }; }

D=$T/node
expect_rc 0 "$BIN" keygen --datadir "$D" && ok "keygen succeeds" || bad "keygen"
PEER=$(awk '/^peer id:/{print $3}' "$T/out"); ONION=$(awk '/^onion address:/{print $3}' "$T/out")
[[ "$PEER" == 12D3KooW* ]] && ok "peer id looks like 12D3KooW…" || bad "peer id: $PEER"
[[ "$ONION" =~ ^[a-z2-7]{56}\.onion$ ]] && ok "onion address is 56 base32 chars" || bad "onion: $ONION"
[ "$(stat -c %a "$D/identity.key")" = 600 ] && ok "key file mode 0600" || bad "key mode $(stat -c %a "$D/identity.key")"
[ "$(stat -c %a "$D")" = 700 ] && ok "datadir mode 0700" || bad "datadir mode"
cp "$D/identity.key" "$T/key.before"

expect_rc 1 "$BIN" keygen --datadir "$D" && grep -q "refusing to overwrite" "$T/err" && ok "second keygen refuses to overwrite" || bad "second keygen"
cmp -s "$D/identity.key" "$T/key.before" && ok "key unchanged" || bad "key changed"

expect_rc 0 "$BIN" id --datadir "$D" && grep -q "$PEER" "$T/out" && grep -q "$ONION" "$T/out" && ok "id prints the same identity" || bad "id"
expect_rc 0 "$BIN" id --datadir "$D" --json &&
  python3 -c "import json,sys; d=json.load(open('$T/out')); assert d['peer_id']=='$PEER' and d['onion_address']=='$ONION'" &&
  ok "id --json" || bad "id --json"

# corrupt / short / exposed key files
cp -r "$D" "$T/short"; head -c 40 "$D/identity.key" > "$T/short/identity.key"
expect_rc 1 "$BIN" id --datadir "$T/short" && grep -q "40 bytes" "$T/err" && ok "short key rejected: $(cat "$T/err")" || bad "short key"
cp -r "$D" "$T/corrupt"  # flip every bit of byte 20 (writing a fixed value can leave it unchanged)
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[20]^=0xff; open(p,'wb').write(b)" "$T/corrupt/identity.key"
expect_rc 1 "$BIN" id --datadir "$T/corrupt" && grep -q "corrupt" "$T/err" && ok "corrupt key rejected" || bad "corrupt key"
cp -r "$D" "$T/open"; chmod 644 "$T/open/identity.key"
expect_rc 1 "$BIN" id --datadir "$T/open" && grep -q "chmod 600" "$T/err" && ok "world-readable key rejected" || bad "0644 key"
expect_rc 1 "$BIN" id --datadir "$T/none" && grep -q "shardnode keygen" "$T/err" && ok "missing key explained" || bad "missing key"

# config
# The shipped examples leave the Tor network to choose (run refuses them until then; so does --check).
expect_rc 2 "$BIN" config --check "$SRC/configs/validator.toml" && grep -q "tor.testnet.*needs a network" "$T/err" &&
  ok "config --check refuses what run refuses: no Tor network chosen" || bad "validator.toml without a network"
for f in validator bootnode; do
  sed '/^\[tor\]/a public_network = true' "$SRC/configs/$f.toml" > "$T/$f.toml"
  expect_rc 0 "$BIN" config --check "$T/$f.toml" && ok "$f.toml checks once a network is chosen" || bad "$f.toml"
done
# config --check runs run's checks: a non-loopback listener in onion-only mode, tor.options
sed '/^\[net\]/a tcp_listen = ["/ip4/0.0.0.0/tcp/4001"]' "$T/validator.toml" > "$T/listen.toml"
expect_rc 2 "$BIN" config --check "$T/listen.toml" && grep -q "net.tcp_listen.*not loopback.*onion_only" "$T/err" &&
  ok "config --check refuses a non-loopback listener in onion-only mode" || bad "config --check tcp_listen"
sed '/^\[tor\]/a options = ["NumCPUs 2", "UseBridges 1"]' "$T/validator.toml" > "$T/toropt.toml"
expect_rc 2 "$BIN" config --check "$T/toropt.toml" && grep -q "toropt.toml:.*tor.options.*'UseBridges' is not allowed: bridges" "$T/err" &&
  ok "tor.options: a refused key is named, with why and where" || bad "tor.options refusal"
sed '/^\[tor\]/a options = ["NumCPUs 2", "AvoidDiskWrites 1"]' "$T/validator.toml" > "$T/toropt-ok.toml"
expect_rc 0 "$BIN" config --check "$T/toropt-ok.toml" && ok "tor.options: allowed keys pass" || bad "tor.options allowed"
printf '[tor]\nstart_timeout = 0\n' > "$T/bad.toml"
expect_rc 2 "$BIN" config --check "$T/bad.toml" && grep -q "bad.toml:2:.*tor.start_timeout" "$T/err" && ok "out-of-range names file:line and key" || bad "bad config"
printf '[tor]\nstart_timeout = \n' > "$T/malformed.toml"
expect_rc 2 "$BIN" --config "$T/malformed.toml" id --datadir "$D" && grep -q "malformed.toml:2" "$T/err" && ok "malformed config stops the node with file:line" || bad "malformed config"
expect_rc 0 "$BIN" config --print-defaults && sed 's/^public_network = false/public_network = true/' "$T/out" > "$T/defaults.toml" &&
  expect_rc 0 "$BIN" config --check "$T/defaults.toml" && ok "--print-defaults output is a valid config (with a network chosen)" || bad "print-defaults"
printf '[node]\ndatadir = "%s"\nonion_only = false\n[net]\ntcp_listen = ["/ip4/127.0.0.1/tcp/0"]\n[tor]\nmode = "none"\n[shard]\ncount = 8\ncover_shards = 8\n' "$D" > "$T/cover.toml"
expect_rc 2 timeout 20 "$BIN" --config "$T/cover.toml" run && grep -q "shard.cover_shards.*below shard.count" "$T/err" &&
  ok "cover_shards >= shard.count is refused before anything starts" || bad "cover_shards check"
expect_rc 2 "$BIN" --set tor.nope=1 id --datadir "$D" && grep -q "unknown key 'tor.nope'" "$T/err" && ok "--set unknown key" || bad "--set unknown"
expect_rc 2 "$BIN" frobnicate && ok "unknown subcommand exits 2" || bad "unknown subcommand"

# init: keys, a commented config for the chosen network, the next command
I="$T/init-public"
expect_rc 0 "$BIN" init --network public "$I" && grep -q "shardnode --config $I/shardnode.toml run" "$T/out" &&
  [ "$(stat -c %a "$I")" = 700 ] && [ "$(stat -c %a "$I/identity.key")" = 600 ] && [ "$(stat -c %a "$I/validator.key")" = 600 ] &&
  [ "$(stat -c %a "$I/shardnode.toml")" = 600 ] && ok "init --network public: keys 0600, config, next command" || bad "init public"
expect_rc 0 "$BIN" config --check "$I/shardnode.toml" && grep -q '^public_network = true' "$I/shardnode.toml" &&
  grep -q "^datadir = \"$I\"" "$I/shardnode.toml" && ok "init's config checks as written" || bad "init's config"
sum=$(sha256sum "$I/identity.key" "$I/validator.key")
expect_rc 1 "$BIN" init --network public "$I" && grep -q "initialised already" "$T/err" &&
  [ "$(sha256sum "$I/identity.key" "$I/validator.key")" = "$sum" ] && ok "init refuses an initialised directory, keys untouched" || bad "init twice"
I2="$T/init-testnet"
expect_rc 0 "$BIN" init --network testnet "$I2" && grep -q "shardnode testnet up --dir $I2/testnet" "$T/out" &&
  grep -q "^testnet = \"$I2/testnet/client.torrc\"" "$I2/shardnode.toml" && ok "init --network testnet names the testnet to start" || bad "init testnet"
expect_rc 2 "$BIN" init --network mainnet "$T/init-bad" && [ ! -e "$T/init-bad" ] && ok "init --network must be testnet or public" || bad "init bad network"

# run: node settings are checked before anything starts
expect_rc 2 "$BIN" --set tor.mode=none --set node.datadir="$D" run && grep -q "tor.mode.*onion_only = false" "$T/err" &&
  ok "tor.mode=none refused in onion-only mode" || bad "tor.mode=none onion-only"
expect_rc 2 "$BIN" --set tor.mode=none --set node.onion_only=false --set node.datadir="$D" run && grep -q "net.tcp_listen" "$T/err" &&
  ok "tor.mode=none without listeners or bootnodes refused" || bad "tor.mode=none no listeners"
expect_rc 2 "$BIN" --set node.datadir="$D" run && grep -q "tor.testnet" "$T/err" && ok "embedded tor without a network refused" || bad "no network"
expect_rc 2 "$BIN" --set 'node.bootnodes=["/ip4/127.0.0.1/tcp/1"]' --set tor.mode=none --set node.onion_only=true --set node.datadir="$D" run &&
  grep -q "node.bootnodes.*not an /onion3/" "$T/err" && ok "clearnet bootnode refused in onion-only mode" || bad "clearnet bootnode"
expect_rc 2 "$BIN" --set tor.mode=none --set node.onion_only=false --set 'net.tcp_listen=["/ip4/127.0.0.1/tcp/0"]' \
  --set node.datadir="$D" --set shard.known_validators_only=true run && grep -q "shard.known_validators_only.*empty" "$T/err" &&
  ok "known_validators_only without known validators refused" || bad "known_validators_only without keys"

# run --test-receipt-log: test-only (the live deanonymization experiment's spy log)
RL="--set node.datadir=$D --set tor.mode=none --set node.onion_only=false --set net.tcp_listen=[\"/ip4/127.0.0.1/tcp/0\"]"
# shellcheck disable=SC2086
expect_rc 2 timeout 20 "$BIN" $RL run --test-receipt-log "$T/receipts.jsonl" && grep -q "test-only switch.*SHARDNODE_TEST_ONLY=1" "$T/err" &&
  [ ! -e "$T/receipts.jsonl" ] && ok "--test-receipt-log needs SHARDNODE_TEST_ONLY=1" || bad "receipt log without the variable"
# shellcheck disable=SC2086
expect_rc 2 timeout 20 "$BIN" $RL run --test-spy && grep -q "test-spy is a test-only switch" "$T/err" &&
  ok "--test-spy needs SHARDNODE_TEST_ONLY=1" || bad "--test-spy without the variable"
"$BIN" run --help 2>&1 | grep -q "receipt\|test-spy" && bad "run --help lists a test-only switch" || ok "run --help does not list the test-only switches"
# An external tor that is not there: nothing could reach the public network even were the check gone.
expect_rc 2 env SHARDNODE_TEST_ONLY=1 timeout 20 "$BIN" --set node.datadir="$D" --set tor.mode=external --set tor.control="unix:$T/none" \
  --set tor.socks=127.0.0.1:1 --set tor.public_network=true run --test-receipt-log "$T/receipts.jsonl" &&
  grep -q "refused with tor.public_network" "$T/err" && [ ! -e "$T/receipts.jsonl" ] &&
  ok "--test-receipt-log refused on the public network" || bad "receipt log on the public network"
# A lone validator over loopback TCP records its own collations.
# shellcheck disable=SC2086
SHARDNODE_TEST_ONLY=1 "$BIN" $RL --set shard.validator=true --set shard.collation_interval_ms=200 --set 'shard.shards=["0"]' \
  run --test-receipt-log "$T/receipts.jsonl" >"$T/rl.out" 2>&1 &
RLPID=$!
for _ in $(seq 1 100); do grep -q '"kind":"own".*collations' "$T/receipts.jsonl" 2>/dev/null && break; sleep 0.2; done
kill "$RLPID" 2>/dev/null; wait "$RLPID"
python3 - "$T/receipts.jsonl" <<'PY' && ok "the receipt log holds our own collations (t, kind, topic, id)" || bad "receipt log content"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
own = [l for l in lines if l["kind"] == "own" and l["topic"] == "/shardnode/shard/0/collations/1"]
assert own and all(len(l["id"]) > 0 and l["t"] > 1.7e9 and "from" not in l for l in own), lines[:3]
PY

# version
expect_rc 0 "$BIN" version --json &&
  python3 -c "import json; d=json.load(open('$T/out')); assert d['tor'].startswith('tor 0.4.'), d" && ok "version names the linked tor: $(tr -d '\n' < "$T/out")" || bad "version"

# selfcheck: embedded tor (DisableNetwork 1) derives the same onion address
expect_rc 0 "$BIN" --log-level trace --set log.file="$T/node.log" selfcheck --datadir "$D" --json &&
  python3 -c "import json; d=json.load(open('$T/out')); assert d['ok'] and d['onion_address_tor']=='$ONION', d" &&
  ok "selfcheck: tor agrees on $ONION" || bad "selfcheck"
cp "$T/out" "$T/selfcheck.out"; cp "$T/err" "$T/selfcheck.err"

# No key material anywhere we write: seed (hex/base64), the key file, tor's expanded key.
python3 - "$D/identity.key" > "$T/secrets" <<'PY'
import sys, hashlib, base64
raw = open(sys.argv[1], 'rb').read(); seed = raw[4:36]
h = bytearray(hashlib.sha512(seed).digest()); h[0] &= 248; h[31] &= 127; h[31] |= 64
for s in (seed.hex(), base64.b64encode(seed).decode(), raw.hex(), base64.b64encode(raw).decode(),
          base64.b64encode(bytes(h)).decode(), base64.b64encode(bytes(h)).decode().rstrip('=')):
    print(s)
PY
leaks=0
for f in "$T/selfcheck.out" "$T/selfcheck.err" "$T/node.log" "$D/tor/tor.log"; do
  [ -f "$f" ] || { bad "missing $f"; continue; }
  while read -r s; do grep -qF -- "$s" "$f" && { leaks=1; echo "  secret found in $f"; }; done < "$T/secrets"
done
grep -q "ADD_ONION ED25519-V3:<redacted>" "$T/node.log" && [ $leaks = 0 ] && ok "no key material in output or logs (trace level)" || bad "key material leaked"

# ctl: usage and connection errors (no node running)
expect_rc 1 "$BIN" ctl --socket "$T/nope.sock" identity && grep -q "cannot connect to the control socket $T/nope.sock" "$T/err" &&
  ok "ctl without a node: clear error, exit 1" || bad "ctl missing socket"
expect_rc 1 "$BIN" ctl -d "$D" peers && grep -q "$D/control.sock" "$T/err" && ok "ctl -d uses <datadir>/control.sock" || bad "ctl -d"
expect_rc 1 "$BIN" --set node.datadir="$D" ctl table && grep -q "$D/control.sock" "$T/err" && ok "ctl defaults to node.datadir" || bad "ctl default socket"
expect_rc 1 "$BIN" rotate-identity -d "$D" && grep -q "$D/control.sock" "$T/err" && grep -q "is the node running" "$T/err" &&
  cmp -s "$D/identity.key" "$T/key.before" && [ ! -e "$D/retired" ] && ok "rotate-identity without a node: clear error, key untouched" ||
  bad "rotate-identity without a node"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" && ok "ctl without an op exits 2" || bad "ctl no op"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" jump 1 && ok "ctl jump needs FROM and TO" || bad "ctl jump usage"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" subscribe notanumber && ok "ctl subscribe needs a number" || bad "ctl subscribe usage"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" request 5 --hash abcd && grep -q "64 hex" "$T/err" && ok "ctl request --hash checks its length" || bad "ctl request hash"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" request 5 && grep -q "FROM TO" "$T/err" && ok "ctl request needs a range or a hash" || bad "ctl request usage"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" -d "$D" identity && ok "ctl --socket and -d exclude each other" || bad "ctl socket+datadir"
expect_rc 2 "$BIN" ctl --socket "$T/nope.sock" frobnicate && ok "ctl unknown op exits 2" || bad "ctl unknown op"

echo "$pass passed, $fails failed"
[ $fails = 0 ]
