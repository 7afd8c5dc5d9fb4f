#!/usr/bin/env bash
# The README's "Deploying members on separate machines", step by step, with three
# directories standing in for three machines (and one for the CA's offline machine).
# Everything a member keeps stays in its own directory; between "machines" only
# certificate requests, certificates and ca.crt are copied, as they would be sent.
#
#   examples/deploy/deploy.sh WORKDIR
#
# Environment: CONSORT (the binary; default `consort` on PATH), BASE_PORT (member i
# listens on 127.0.0.1:BASE_PORT+i; default 7100). tests/deploy.rs runs this script.
set -euo pipefail

work="${1:?usage: deploy.sh WORKDIR}"
consort="${CONSORT:-consort}"
base="${BASE_PORT:-7100}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
names=(hospital-a lab-b insurer-c)
mkdir -p "$work"
cd "$work"

echo "== 1. The CA (its own machine): ca.crt for everybody, ca.key stays here"
"$consort" certs ca --out ca

for i in 0 1 2; do
  m="${names[$i]}"
  echo "== 2. $m, member $i: a private key that never leaves, and a CSR for the CA"
  mkdir -p "$m" ca/requests
  "$consort" certs request --party "$i" --out "$m" | tee "$m/request.txt"
  cp "$m/party-$i.csr" "ca/requests/"   # sent to the CA

  echo "== 3. The CA signs member $i's request, after comparing its fingerprint"
  "$consort" certs sign --ca-cert ca/ca.crt --ca-key ca/ca.key \
    --csr "ca/requests/party-$i.csr" --party "$i" --out "ca/party-$i.crt" | tee "ca/sign-$i.txt"
  said="$(grep '^CSR fingerprint' "$m/request.txt")"
  seen="$(grep '^CSR fingerprint' "ca/sign-$i.txt")"
  if [ "$said" != "$seen" ]; then
    echo "deploy.sh: member $i's CSR fingerprint differs at the CA: do not sign" >&2
    exit 1
  fi
  cp "ca/party-$i.crt" ca/ca.crt "$m/"   # sent back to the member
done

for i in 0 1 2; do
  m="${names[$i]}"
  echo "== 4. $m writes its node config (paths relative to it)"
  cat > "$m/party-$i.toml" <<TOML
party = $i
listen = "127.0.0.1:$((base + i))"   # on a real machine: "0.0.0.0:$((base + i))"
key = "party-$i.key"
cert = "party-$i.crt"
ca = "ca.crt"
connect_timeout_secs = 120   # members may start in any order within this window
recv_timeout_secs = 60       # a silent member is named after this long
idle_timeout_secs = 10       # a vanished member is noticed after this long

[[members]]
party = 0
address = "127.0.0.1:$base"   # e.g. "hospital-a.example.org:$base"
[[members]]
party = 1
address = "127.0.0.1:$((base + 1))"
[[members]]
party = 2
address = "127.0.0.1:$((base + 2))"
TOML
  # Every member runs the same job file; its own rows are given with --input.
  cp "$repo/examples/jobs/stats.toml" "$m/stats.toml"
  cp "$repo/examples/data/breast_cancer/member-$i.csv" "$m/my-rows.csv"
done

echo "== 5. Everyone runs the job, in any order (here 2, 0, 1)"
pids=()
for i in 2 0 1; do
  m="${names[$i]}"
  (cd "$m" && exec "$consort" run --node "party-$i.toml" --job stats.toml --input my-rows.csv \
    --out result.json >run.out 2>run.err) &
  pids[$i]=$!
  sleep 1
done
failed=0
for i in 0 1 2; do
  if ! wait "${pids[$i]}"; then
    echo "deploy.sh: member $i failed:" >&2
    cat "${names[$i]}/run.err" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
echo "== done: each member's result is in its own directory"
for m in "${names[@]}"; do echo "  $work/$m/result.json"; done
