#!/usr/bin/env bash
# The whole loop on a laptop: moto (S3, Kinesis, DynamoDB, SNS, SQS) on 127.0.0.1, two bucketwarden
# workers, and `bucketwarden dev-trail` turning S3 calls into CloudTrail events on the stream.
# Then the tutorial, with the AWS CLI through dev-trail: a bucket made public three ways, each
# locked down by the fleet, with the time each step took. Stops everything it started on exit.
#
# usage: scripts/demo.sh [--stay] [--two-accounts]
#   --stay          keeps the fleet running for you to poke at (Ctrl-C ends)
#   --two-accounts  the fleet also guards a member account ([accounts] allowed = [member]); a
#                   4th step makes a bucket public there with the member role's credentials
# ports: BUCKETWARDEN_DEMO_MOTO_PORT (5000), BUCKETWARDEN_DEMO_TRAIL_PORT (4567),
#        BUCKETWARDEN_DEMO_METRICS_PORTS ("9464 9465", one per worker);
# member account: BUCKETWARDEN_DEMO_MEMBER (111111111111)
set -euo pipefail
cd "$(dirname "$0")/.."

stay=false
two_accounts=false
for arg in "$@"; do
  case "$arg" in
    --stay) stay=true ;;
    --two-accounts) two_accounts=true ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
member=${BUCKETWARDEN_DEMO_MEMBER:-111111111111}

moto_port=${BUCKETWARDEN_DEMO_MOTO_PORT:-5000}
trail_port=${BUCKETWARDEN_DEMO_TRAIL_PORT:-4567}

run_dir=.run/demo
mkdir -p "$run_dir"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }
read -r -a metrics_ports <<< "${BUCKETWARDEN_DEMO_METRICS_PORTS:-9464 9465}"
[ ${#metrics_ports[@]} -eq 2 ] || die "BUCKETWARDEN_DEMO_METRICS_PORTS needs two ports"

pids=()
moto_pidfile="$run_dir/moto.pid"
rm -f "$moto_pidfile"
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    printf '\n==> stopping the fleet and dev-trail\n'
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if [ -f "$moto_pidfile" ]; then
    echo "==> stopping the moto server this demo started"
    kill "$(cat "$moto_pidfile")" 2>/dev/null || true
    rm -f "$moto_pidfile"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

step "Python venv with the pinned moto server and AWS CLI (scripts/venv.sh)"
./scripts/venv.sh
aws_cli=.venv/bin/aws

step "moto server on 127.0.0.1:$moto_port"
if port_busy "$moto_port" && ! curl -fsS -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" 2>/dev/null; then
  die "port $moto_port is taken by something that is not moto; set BUCKETWARDEN_DEMO_MOTO_PORT"
fi
moto=$(./scripts/moto.sh "$moto_port" "$moto_pidfile")
if [ -f "$moto_pidfile" ]; then info "started $moto (log: .run/moto-$moto_port.log)"; else info "reusing the moto server already at $moto"; fi
for p in "$trail_port" "${metrics_ports[@]}"; do
  port_busy "$p" && die "port $p is in use (another demo still running?); set BUCKETWARDEN_DEMO_TRAIL_PORT or stop it"
done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="$moto" \
  AWS_PAGER=""
trail="http://127.0.0.1:$trail_port"
# `aws_emu` reads the emulator directly (what is really there); `aws_you` is a person's CLI, whose
# calls go through dev-trail and so reach CloudTrail, as they would on AWS.
aws_emu() { "$aws_cli" --endpoint-url "$moto" "$@"; }
aws_you() { "$aws_cli" --endpoint-url "$trail" "$@"; }

step "build bucketwarden (the test profile and features, so scripts/test.sh reuses the build)"
# With the test targets included, dependency features resolve exactly as in `cargo test`; a
# binary-only build would compile the AWS SDK crates a second time for the tests.
# Cargo says where it put the binary (CARGO_TARGET_DIR may point anywhere).
bw=$(./scripts/cargo-bin.sh bucketwarden --locked --lib --bins --tests)
config=examples/bucketwarden.toml
if $two_accounts; then
  # The example configuration, with the member account allowed.
  config="$run_dir/bucketwarden-two-accounts.toml"
  sed "s/^allowed = \[\]/allowed = [\"$member\"]/" examples/bucketwarden.toml > "$config"
  grep -q "^allowed = \[\"$member\"\]" "$config" || die "could not allow $member in $config"
  info "config: $config ([accounts] allowed = [\"$member\"])"
fi

step "bucketwarden init: stream (2 shards), lease/dedup/state/incident/dead-letter tables, alert topic"
"$bw" init --config "$config" --shards 2 | sed 's/^/    /'
topic_arn="arn:aws:sns:us-east-1:123456789012:bucketwarden-alerts"
queue_url=$(aws_emu sqs create-queue --queue-name bucketwarden-demo-alerts --query QueueUrl --output text)
aws_emu sns subscribe --topic-arn "$topic_arn" --protocol sqs \
  --notification-endpoint arn:aws:sqs:us-east-1:123456789012:bucketwarden-demo-alerts >/dev/null
info "alerts: $topic_arn -> SQS queue bucketwarden-demo-alerts (how this demo reads them)"

step "two workers and dev-trail"
for i in 1 2; do
  BUCKETWARDEN_LOG=info "$bw" run --config "$config" --worker-id "demo-$i" \
    --metrics-addr "127.0.0.1:${metrics_ports[$((i - 1))]}" > "$run_dir/worker-$i.log" 2>&1 &
  pids+=($!)
  info "worker demo-$i: pid $!, metrics http://127.0.0.1:${metrics_ports[$((i - 1))]}/metrics, log $run_dir/worker-$i.log"
done
"$bw" dev-trail --config "$config" --listen "127.0.0.1:$trail_port" --upstream "$moto" \
  > "$run_dir/dev-trail.out" 2> "$run_dir/dev-trail.log" &
pids+=($!)
info "dev-trail: pid $!, $trail -> $moto, log $run_dir/dev-trail.log"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# wait_for DESCRIPTION SECONDS T0 COMMAND...: polls COMMAND, prints the time since T0 when it holds.
wait_for() {
  local what=$1 limit=$2 t0=$3
  shift 3
  local start
  start=$(now)
  until "$@" >/dev/null 2>&1; do
    if awk -v s="$start" -v n="$(now)" -v l="$limit" 'BEGIN { exit !(n - s > l) }'; then
      echo "    timed out after ${limit}s waiting for: $what" >&2
      echo "    last worker log lines:" >&2
      tail -n 20 "$run_dir"/worker-*.log >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  printf '    %-44s %5ss\n' "$what" "$(since "$t0")"
}

leases_held() {
  local total=0 n p
  for p in "${metrics_ports[@]}"; do
    n=$(curl -fsS "http://127.0.0.1:$p/metrics" 2>/dev/null | awk '/^bucketwarden_leases_held/ { s += $NF } END { print s + 0 }') || n=0
    total=$((total + ${n%.*}))
  done
  [ "$total" -ge 2 ]
}
trail_up() { grep -q listening "$run_dir/dev-trail.out"; }
t_start=$(now)
wait_for "dev-trail listening" 30 "$t_start" trail_up
wait_for "both shards leased by the fleet" 60 "$t_start" leases_held

block_on() {
  [ "$(aws_emu s3api get-public-access-block --bucket "$1" --output text \
    --query 'PublicAccessBlockConfiguration.[BlockPublicAcls,IgnorePublicAcls,BlockPublicPolicy,RestrictPublicBuckets]')" = "True	True	True	True" ]
}
tagged() {
  [ -n "$(aws_emu s3api get-bucket-tagging --bucket "$1" --output text \
    --query "TagSet[?Key=='bucketwarden:remediated'].Value")" ]
}
incident_for() {
  [ "$(aws_emu dynamodb scan --table-name bucketwarden-incidents --filter-expression '#b = :b' \
    --expression-attribute-names '{"#b":"bucket"}' \
    --expression-attribute-values "{\":b\":{\"S\":\"$1\"}}" --query Count --output text)" -ge 1 ]
}
alerts_file="$run_dir/alerts.txt"
: > "$alerts_file"
alert_for() {
  local msgs
  msgs=$(aws_emu sqs receive-message --queue-url "$queue_url" --max-number-of-messages 10 \
    --query 'Messages[].Body' --output json)
  if [ "$msgs" != "null" ] && [ -n "$msgs" ]; then
    printf '%s' "$msgs" | python3 -c 'import json,sys
for b in json.load(sys.stdin) or []:
    print(json.loads(b).get("Subject", ""))' >> "$alerts_file"
  fi
  grep -q -- "$1" "$alerts_file"
}
object_private() {
  [ "$(aws_emu s3api get-object-acl --bucket "$1" --key "$2" --output text \
    --query "length(Grants[?Grantee.URI=='http://acs.amazonaws.com/groups/global/AllUsers'])")" = "0" ]
}
# Prints the command as a person would type it, then runs it.
show() {
  local shown=("$@")
  [ "$1" = aws_you ] && shown=(aws --endpoint-url "$trail" "${@:2}")
  printf '    $ %s\n' "${shown[*]}"
  "$@" > /dev/null
}

suffix=$(date +%H%M%S)
site="demo-site-$suffix"
step "1. A bucket made public with an ACL (the classic mistake)"
show aws_you s3api create-bucket --bucket "$site" --object-ownership ObjectWriter
show aws_you s3api delete-public-access-block --bucket "$site"
t0=$(now)
show aws_you s3api put-bucket-acl --bucket "$site" --acl public-read
wait_for "PublicAccessBlock fully on again" 60 "$t0" block_on "$site"
wait_for "tagged bucketwarden:remediated" 60 "$t0" tagged "$site"
wait_for "incident recorded (bucketwarden-incidents)" 60 "$t0" incident_for "$site"
wait_for "alert delivered (SNS -> SQS)" 60 "$t0" alert_for "$site"
info "alert: $(grep -m1 -- "$site" "$alerts_file")"
aws_emu dynamodb scan --table-name bucketwarden-incidents --filter-expression '#b = :b' \
  --expression-attribute-names '{"#b":"bucket"}' \
  --expression-attribute-values "{\":b\":{\"S\":\"$site\"}}" --output json \
  --query 'Items[0].{event:eventName.S,actor:actorArn.S,action:action.S,outcome:outcome.S,reasons:reasons.L[].S}' \
  | sed 's/^/    incident: /'

policy_bucket="demo-policy-$suffix"
step "2. A bucket made public with a bucket policy (Principal \"*\")"
show aws_you s3api create-bucket --bucket "$policy_bucket"
show aws_you s3api delete-public-access-block --bucket "$policy_bucket"
policy="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"PublicRead\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$policy_bucket/*\"}]}"
t0=$(now)
show aws_you s3api put-bucket-policy --bucket "$policy_bucket" --policy "$policy"
wait_for "PublicAccessBlock fully on again" 60 "$t0" block_on "$policy_bucket"
wait_for "incident recorded" 60 "$t0" incident_for "$policy_bucket"
wait_for "alert delivered" 60 "$t0" alert_for "$policy_bucket"

obj_bucket="demo-objects-$suffix"
step "3. One object made public with its ACL"
show aws_you s3api create-bucket --bucket "$obj_bucket" --object-ownership ObjectWriter
show aws_you s3api delete-public-access-block --bucket "$obj_bucket"
printf 'id,name\n1,alice\n' > "$run_dir/report.csv"
t0=$(now)
show aws_you s3api put-object --bucket "$obj_bucket" --key report.csv --body "$run_dir/report.csv" --acl public-read
wait_for "object ACL back to private" 60 "$t0" object_private "$obj_bucket" report.csv
wait_for "incident recorded" 60 "$t0" incident_for "$obj_bucket"
wait_for "alert delivered" 60 "$t0" alert_for "$obj_bucket"
info "the bucket itself is untouched: only the object was public"

if $two_accounts; then
  member_bucket="demo-member-$suffix"
  step "4. A second account: a bucket made public in member account $member"
  # A person in the member account: the credentials of a role there. moto runs an assumed role's
  # calls in the role's account; dev-trail records them in that account (recipientAccountId), and
  # the fleet acts there through [accounts] role_name, which it assumes itself.
  read -r m_key m_secret m_token < <(aws_emu sts assume-role \
    --role-arn "arn:aws:iam::$member:role/developer" --role-session-name demo \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
  aws_member() {
    AWS_ACCESS_KEY_ID=$m_key AWS_SECRET_ACCESS_KEY=$m_secret AWS_SESSION_TOKEN=$m_token \
      "$aws_cli" --endpoint-url "$trail" "$@"
  }
  # What is really there in the member account (read with the same credentials, not through dev-trail).
  aws_member_emu() {
    AWS_ACCESS_KEY_ID=$m_key AWS_SECRET_ACCESS_KEY=$m_secret AWS_SESSION_TOKEN=$m_token \
      "$aws_cli" --endpoint-url "$moto" "$@"
  }
  info "credentials of arn:aws:iam::$member:role/developer (aws sts assume-role), used below as aws_member"
  printf '    $ %s\n' "aws_member s3api create-bucket --bucket $member_bucket --object-ownership ObjectWriter"
  aws_member s3api create-bucket --bucket "$member_bucket" --object-ownership ObjectWriter > /dev/null
  printf '    $ %s\n' "aws_member s3api delete-public-access-block --bucket $member_bucket"
  aws_member s3api delete-public-access-block --bucket "$member_bucket" > /dev/null
  t0=$(now)
  printf '    $ %s\n' "aws_member s3api put-bucket-acl --bucket $member_bucket --acl public-read"
  aws_member s3api put-bucket-acl --bucket "$member_bucket" --acl public-read > /dev/null
  member_block_on() {
    [ "$(aws_member_emu s3api get-public-access-block --bucket "$1" --output text \
      --query 'PublicAccessBlockConfiguration.[BlockPublicAcls,IgnorePublicAcls,BlockPublicPolicy,RestrictPublicBuckets]')" = "True	True	True	True" ]
  }
  only_in_member() {
    aws_member_emu s3api list-buckets --query 'Buckets[].Name' --output text | grep -qw "$1" &&
      ! aws_emu s3api list-buckets --query 'Buckets[].Name' --output text | grep -qw "$1"
  }
  wait_for "the bucket lives in $member only" 30 "$t0" only_in_member "$member_bucket"
  wait_for "PublicAccessBlock on, in $member" 60 "$t0" member_block_on "$member_bucket"
  wait_for "incident recorded" 60 "$t0" incident_for "$member_bucket"
  wait_for "alert delivered" 60 "$t0" alert_for "$member_bucket"
  incident_account=$(aws_emu dynamodb scan --table-name bucketwarden-incidents --filter-expression '#b = :b' \
    --expression-attribute-names '{"#b":"bucket"}' \
    --expression-attribute-values "{\":b\":{\"S\":\"$member_bucket\"}}" \
    --query 'Items[0].account.S' --output text)
  [ "$incident_account" = "$member" ] || die "the incident names account $incident_account, not $member"
  aws_emu dynamodb scan --table-name bucketwarden-incidents --filter-expression '#b = :b' \
    --expression-attribute-names '{"#b":"bucket"}' \
    --expression-attribute-values "{\":b\":{\"S\":\"$member_bucket\"}}" --output json \
    --query 'Items[0].{account:account.S,actor:actorArn.S,action:action.S,outcome:outcome.S}' \
    | sed 's/^/    incident: /'
  info "locked down in its own account by the fleet's assumed role ($(grep -c 'assumed the member role' "$run_dir"/worker-*.log | awk -F: '{ s += $2 } END { print s }') AssumeRole so far)"
fi

step "metrics"
for p in "${metrics_ports[@]}"; do
  info "http://127.0.0.1:$p/metrics"
done
curl -fsS "http://127.0.0.1:${metrics_ports[0]}/metrics" "http://127.0.0.1:${metrics_ports[1]}/metrics" \
  | grep -E '^bucketwarden_(remediations_total|transitions_total|accounts_covered|assume_role_total)' | sed 's/^/    /' || true

if $stay; then
  step "the fleet keeps running; try it yourself (README: \"Try it yourself\"), Ctrl-C to stop"
  info "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
  info "$aws_cli --endpoint-url $trail s3api create-bucket --bucket my-bucket --object-ownership ObjectWriter"
  info "$aws_cli --endpoint-url $trail s3api delete-public-access-block --bucket my-bucket"
  info "$aws_cli --endpoint-url $trail s3api put-bucket-acl --bucket my-bucket --acl public-read"
  info "$aws_cli --endpoint-url $moto s3api get-public-access-block --bucket my-bucket"
  if $two_accounts; then
    info "in member account $member: eval \$($aws_cli --endpoint-url $moto sts assume-role --role-arn arn:aws:iam::$member:role/developer --role-session-name you --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text | awk '{ print \"export AWS_ACCESS_KEY_ID=\"\$1\" AWS_SECRET_ACCESS_KEY=\"\$2\" AWS_SESSION_TOKEN=\"\$3 }'), then the same commands"
  fi
  info "tail -f $run_dir/worker-*.log $run_dir/dev-trail.log"
  wait "${pids[0]}" || true
else
  step "done: every public change was locked down (run with --stay to keep the fleet up)"
fi
