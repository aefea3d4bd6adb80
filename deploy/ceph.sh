#!/usr/bin/env bash
# Single-host Ceph 16 (Pacific) cluster with an S3 gateway (RGW) for Shoebox.
#
# Usage: deploy/ceph.sh install|start|stop|status|purge
#
# The cluster has 1 mon, 1 mgr, 3 bluestore OSDs on sparse files and one RGW
# (beast frontend) on 127.0.0.1:7480, with cephx on. Everything lives under
# $SHOEBOX_STATE_DIR/ceph/: ceph.conf (rendered on every start), keyrings,
# daemon data, the run dir with admin sockets, logs in log/ and one
# <daemon>.pid per daemon. Every ceph and radosgw-admin call names that
# ceph.conf and the admin keyring, so /etc/ceph is never read.
#
# The first start creates the cluster. Later starts run the daemons again on
# the existing data, and re-check pools, placement and users (each step does
# nothing when its result is already there).
#
# Buckets get one of two RGW placement targets in the default zonegroup/zone:
#   default-placement  replicated pools (the placement of every bucket
#                      created without a LocationConstraint);
#   ec-placement       object data in an erasure-coded pool (k=2, m=1), chosen
#                      at CreateBucket with LocationConstraint
#                      "default:ec-placement" (recorded in stack.env as
#                      SHOEBOX_S3_EC_LOCATION_CONSTRAINT). RGW also accepts
#                      ":ec-placement", and rejects unknown placement names.
# `radosgw-admin bucket stats --bucket NAME` shows a bucket's placement_rule.
# In the data pool, RADOS object names start with the bucket's marker (also
# in bucket stats): "<marker>_<key>" for the head object, and
# "<marker>__shadow_..." or "<marker>__multipart_..." for the rest of larger
# and multipart objects.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COMPONENT=ceph

# --- Pools and placement -----------------------------------------------------

# Replicated pools of the default placement. ec-placement shares the index and
# extra pools: bucket index objects are named after each bucket's unique
# marker, so two placements can share one index pool, and it saves PGs.
RGW_INDEX_POOL=default.rgw.buckets.index
RGW_DATA_POOL=default.rgw.buckets.data
# Multipart upload metadata uses omap, which erasure-coded pools lack, so
# ec-placement needs a replicated "data extra" pool too.
RGW_EXTRA_POOL=default.rgw.buckets.non-ec
# Erasure-coded data pool of ec-placement.
RGW_EC_DATA_POOL=default.rgw.buckets.ec-data
EC_PROFILE=shoebox-k2-m1

RGW_ZONEGROUP=default
RGW_ZONE=default
RGW_EC_PLACEMENT=ec-placement

# Replicated pools keep 3 copies, one per OSD, and serve I/O with 2. So with one
# OSD down both placements keep working: the EC pool (k=2, m=1) needs 2 of its
# 3 chunks. Size 2 would also fit, but it needs min_size 1 to stay writable
# with one OSD down, and then it accepts writes that exist on one disk only.
REPLICATED_SIZE=3
REPLICATED_MIN_SIZE=2
# Small fixed PG count with the autoscaler off. The cluster ends up with 9
# pools and 65 PGs (the mgr's own pool has 1). With 3 copies or chunks each on
# 3 OSDs, every OSD stores 65 PGs, well below mon_max_pg_per_osd (250).
PG_NUM=8

# --- Daemons -----------------------------------------------------------------

OSD_COUNT=3
OSD_BLOCK_SIZE=$((10 * 1024 * 1024 * 1024)) # bytes, sparse file per OSD
# Per OSD. Ceph 16 rejects values below its minimum of 896 MiB. The target
# steers the bluestore caches, so it is a goal, not a hard limit.
OSD_MEMORY_TARGET=$((1024 * 1024 * 1024))
MON_ID=a
MGR_ID=x
RGW_ID=rgw.shoebox # the gateway runs as client.rgw.shoebox
RGW_ADDR=127.0.0.1
RGW_PORT=7480

RGW_APP_USER=shoebox
RGW_STAGING_WRITER_USER=shoebox-staging-writer

# Seconds to wait for each readiness check.
MON_TIMEOUT=60
MGR_TIMEOUT=60
OSD_TIMEOUT=120
RGW_TIMEOUT=120
# Seconds after which a single ceph or radosgw-admin call is abandoned. librados
# calls block while placement groups are inactive, so they need a bound.
CLI_TIMEOUT=120

# --- Paths -------------------------------------------------------------------

CEPH_DIR=$SHOEBOX_STATE_DIR/ceph
CONF=$CEPH_DIR/ceph.conf
ADMIN_KEYRING=$CEPH_DIR/ceph.client.admin.keyring
LOG_DIR=$CEPH_DIR/log
RUN_DIR=$CEPH_DIR/run
MON_DATA=$CEPH_DIR/mon/ceph-$MON_ID
MGR_DATA=$CEPH_DIR/mgr/ceph-$MGR_ID
OSD_ROOT=$CEPH_DIR/osd
RGW_DATA=$CEPH_DIR/rgw
FSID_FILE=$CEPH_DIR/fsid
# S3 keys of the RGW users, generated once and reused on every start.
RGW_KEYS_FILE=$CEPH_DIR/rgw-user-keys.env
# Marker written after the mon's mkfs succeeded: without it the cluster is new.
MON_READY=$MON_DATA/shoebox-mkfs-done

# Keys this script writes to stack.env (purge removes them again).
STACK_ENV_KEYS=(
  SHOEBOX_S3_ENDPOINT SHOEBOX_S3_REGION
  SHOEBOX_S3_ACCESS_KEY_ID SHOEBOX_S3_SECRET_ACCESS_KEY
  SHOEBOX_S3_STAGING_WRITER_ACCESS_KEY_ID SHOEBOX_S3_STAGING_WRITER_SECRET_ACCESS_KEY
  SHOEBOX_S3_EC_LOCATION_CONSTRAINT
  SHOEBOX_CEPH_CONF SHOEBOX_CEPH_EC_POOL SHOEBOX_CEPH_KEYRING
)

# --- Helpers -----------------------------------------------------------------

ceph_cli() {
  timeout "$CLI_TIMEOUT" ceph -c "$CONF" -n client.admin -k "$ADMIN_KEYRING" --connect-timeout 15 "$@"
}

rgw_admin() {
  timeout "$CLI_TIMEOUT" radosgw-admin -c "$CONF" -n client.admin -k "$ADMIN_KEYRING" "$@"
}

# json_eval EXPR: evaluate a Python expression over the JSON document on stdin,
# bound to `d`, and print the result. /usr/bin/python3 is a dependency of
# ceph-common, so it exists wherever the ceph CLI does.
json_eval() {
  /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

pidfile_of() { printf '%s/%s.pid\n' "$CEPH_DIR" "$1"; }

# Ceph names its own log file $cluster-$name.log (see "log file" in ceph.conf).
# start_daemon sends the daemon's stdout and stderr to the same file.
logfile_of() {
  case $1 in
    rgw) printf '%s/ceph-client.%s.log\n' "$LOG_DIR" "$RGW_ID" ;;
    *) printf '%s/ceph-%s.log\n' "$LOG_DIR" "$1" ;;
  esac
}

osd_names() {
  local i
  for ((i = 0; i < OSD_COUNT; i++)); do printf 'osd.%d\n' "$i"; done
}

# Daemons in start order.
daemon_names() {
  printf 'mon.%s\nmgr.%s\n' "$MON_ID" "$MGR_ID"
  osd_names
  printf 'rgw\n'
}

# random_key LENGTH ALPHABET: print a random string of LENGTH characters.
random_key() {
  /usr/bin/python3 -c 'import secrets, sys; print("".join(secrets.choice(sys.argv[2]) for _ in range(int(sys.argv[1]))))' "$1" "$2"
}

env_unset() {
  local file=$SHOEBOX_STATE_DIR/stack.env key=$1
  [ -f "$file" ] || return 0
  (grep -v "^$key=" "$file" || true) >"$file.tmp"
  mv "$file.tmp" "$file"
}

# --- Configuration -----------------------------------------------------------

render_conf() {
  local fsid
  fsid=$(cat "$FSID_FILE")
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$CEPH_DIR/crash"
  cat >"$CONF.tmp" <<EOF
# Rendered by deploy/ceph.sh on every start. Edit the script, not this file.
[global]
fsid = $fsid
mon initial members = $MON_ID
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false

auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $ADMIN_KEYRING

run dir = $RUN_DIR
admin socket = \$run_dir/\$cluster-\$name.asok
log file = $LOG_DIR/\$cluster-\$name.log
mon cluster log file = $LOG_DIR/\$cluster.log
crash dir = $CEPH_DIR/crash

# One host: CRUSH rules pick distinct OSDs, not distinct hosts. This must be
# set before the mon's mkfs, which writes the initial CRUSH rule.
osd crush chooseleaf type = 0
osd pool default size = $REPLICATED_SIZE
osd pool default min size = $REPLICATED_MIN_SIZE
osd pool default pg num = $PG_NUM
osd pool default pgp num = $PG_NUM
osd pool default pg autoscale mode = off

[mon]
mon data = $MON_DATA
keyring = \$mon_data/keyring
# The mon batches map updates for this long (default 1 s), and each step of a
# cold start waits for one. On a 2-core machine this script's cold start took
# 44 s with the default and 20 s with 0.1 s.
paxos propose interval = 0.1
# The default (30%) warns on any disk that is more than 70% full. The mon
# still warns at 10% free and stops at mon data avail crit (5%).
mon data avail warn = 10
mon allow pool delete = false

[mgr]
mgr data = $MGR_DATA
keyring = \$mgr_data/keyring
# Daemons report PG states to the mgr this often (default 5 s). The start
# waits until the mgr reports every PG active, and with 1 s a warm start took
# about 7.5 s instead of 12 s, for well under 1% of a core more when idle.
mgr stats period = 1

[osd]
osd data = $OSD_ROOT/\$cluster-\$id
keyring = \$osd_data/keyring
osd objectstore = bluestore
# "block.img", not "block": with "block" as the file name the OSD's mkfs fails
# on Ceph 16.2.15.
bluestore block path = \$osd_data/block.img
bluestore block create = true
bluestore block size = $OSD_BLOCK_SIZE
osd memory target = $OSD_MEMORY_TARGET

[client.$RGW_ID]
rgw data = $RGW_DATA
keyring = $RGW_DATA/keyring
rgw frontends = beast endpoint=$RGW_ADDR:$RGW_PORT
EOF
  mv "$CONF.tmp" "$CONF"
}

# --- Monitor -----------------------------------------------------------------

# Create a new cluster: fsid, mon. and client.admin keys, monmap, mon store.
# Anything left from an earlier attempt that failed before the mon was ready is
# removed first, because OSDs and keys of another cluster cannot join this one.
create_cluster() {
  log "creating a new cluster in $CEPH_DIR"
  rm -rf "$CEPH_DIR/mon" "$CEPH_DIR/mgr" "$OSD_ROOT" "$RGW_DATA" "$ADMIN_KEYRING" "$FSID_FILE" "$RUN_DIR"
  mkdir -p "$CEPH_DIR"
  uuidgen >"$FSID_FILE"
  render_conf

  local tmp
  tmp=$(mktemp -d "$CEPH_DIR/bootstrap.XXXXXX")
  ceph-authtool --create-keyring "$tmp/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$ADMIN_KEYRING" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  chmod 600 "$ADMIN_KEYRING"
  ceph-authtool "$tmp/mon.keyring" --import-keyring "$ADMIN_KEYRING" >/dev/null
  monmaptool --create --fsid "$(cat "$FSID_FILE")" \
    --addv "$MON_ID" '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$tmp/monmap" >/dev/null

  mkdir -p "$MON_DATA"
  ceph-mon -c "$CONF" --mkfs -i "$MON_ID" --monmap "$tmp/monmap" --keyring "$tmp/mon.keyring" \
    >>"$(logfile_of "mon.$MON_ID")" 2>&1 ||
    die "mon mkfs failed (log: $(logfile_of "mon.$MON_ID"))"
  rm -rf "$tmp"
  touch "$MON_READY"
}

mon_has_quorum() {
  ceph_cli quorum_status -f json | json_eval '"'"$MON_ID"'" in d["quorum_names"]' | grep -qx True
}

start_mon() {
  local log
  log=$(logfile_of "mon.$MON_ID")
  start_daemon "mon.$MON_ID" "$(pidfile_of "mon.$MON_ID")" "$log" \
    ceph-mon -c "$CONF" -f -i "$MON_ID"
  wait_for "mon.$MON_ID quorum" "$MON_TIMEOUT" "$log" mon_has_quorum
}

# --- Manager -----------------------------------------------------------------

mgr_available() {
  ceph_cli mgr stat -f json | json_eval 'd["available"]' | grep -qx True
}

start_mgr() {
  local log
  log=$(logfile_of "mgr.$MGR_ID")
  if [ ! -s "$MGR_DATA/keyring" ]; then
    mkdir -p "$MGR_DATA"
    ceph_cli auth get-or-create "mgr.$MGR_ID" mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
      -o "$MGR_DATA/keyring"
  fi
  start_daemon "mgr.$MGR_ID" "$(pidfile_of "mgr.$MGR_ID")" "$log" \
    ceph-mgr -c "$CONF" -f -i "$MGR_ID"
  wait_for "mgr.$MGR_ID to become available" "$MGR_TIMEOUT" "$log" mgr_available
}

# --- OSDs --------------------------------------------------------------------

# create_osd ID: register the OSD with the mon and format its bluestore file.
# `ceph osd new UUID ID` and `auth get-or-create` return the existing entry
# when run again, so an attempt that failed half-way can simply be repeated.
create_osd() {
  local id=$1 data=$OSD_ROOT/ceph-$1 uuid_file=$OSD_ROOT/ceph-$1.uuid
  log "creating osd.$id"
  [ -s "$uuid_file" ] || { mkdir -p "$OSD_ROOT" && uuidgen >"$uuid_file"; }
  rm -rf "$data"
  mkdir -p "$data"
  ceph_cli osd new "$(cat "$uuid_file")" "$id" >/dev/null
  ceph_cli auth get-or-create "osd.$id" mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
    -o "$data/keyring"
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$(cat "$uuid_file")" >>"$(logfile_of "osd.$id")" 2>&1 ||
    die "osd.$id mkfs failed (log: $(logfile_of "osd.$id"))"
  touch "$data/shoebox-mkfs-done"
}

all_osds_up_and_in() {
  ceph_cli osd stat -f json |
    json_eval 'd["num_osds"] >= '"$OSD_COUNT"' and d["num_up_osds"] >= '"$OSD_COUNT"' and d["num_in_osds"] >= '"$OSD_COUNT" |
    grep -qx True
}

start_osds() {
  local i
  for ((i = 0; i < OSD_COUNT; i++)); do
    [ -e "$OSD_ROOT/ceph-$i/shoebox-mkfs-done" ] || create_osd "$i"
    start_daemon "osd.$i" "$(pidfile_of "osd.$i")" "$(logfile_of "osd.$i")" \
      ceph-osd -c "$CONF" -f -i "$i"
  done
  # One log per OSD: name them all in the timeout message, show the first.
  wait_for "all $OSD_COUNT OSDs up and in (logs: $LOG_DIR/ceph-osd.*.log)" "$OSD_TIMEOUT" \
    "$(logfile_of osd.0)" all_osds_up_and_in
}

# all_pgs_active: true when the mgr reports every PG as active. Right after a
# restart the OSDs still peer and the mgr lists PGs as "unknown" until the OSDs
# report to it, and S3 requests that touch those PGs block until then.
all_pgs_active() {
  ceph_cli pg stat -f json |
    json_eval 'd["pg_summary"]["num_pgs"] > 0 and sum(s["num"] for s in d["pg_summary"]["num_pg_by_state"] if "active" in s["name"].split("+")) == d["pg_summary"]["num_pgs"]' |
    grep -qx True
}

# --- Pools -------------------------------------------------------------------

# Create the RGW bucket pools before RGW runs, because RGW would otherwise
# create the data pool itself as a replicated pool.
ensure_pools() {
  local existing pool ec_profile
  # One line per pool: name and erasure-code profile ("-" for replicated pools).
  existing=$(ceph_cli osd pool ls detail -f json |
    json_eval '"\n".join(p["pool_name"] + " " + (p["erasure_code_profile"] or "-") for p in d)')

  for pool in "$RGW_INDEX_POOL" "$RGW_DATA_POOL" "$RGW_EXTRA_POOL"; do
    [ -n "$(awk -v name="$pool" '$1 == name' <<<"$existing")" ] && continue
    log "creating replicated pool $pool (size $REPLICATED_SIZE, $PG_NUM PGs)"
    ceph_cli osd pool create "$pool" "$PG_NUM" "$PG_NUM" replicated --autoscale-mode=off >/dev/null
    ceph_cli osd pool set "$pool" size "$REPLICATED_SIZE" >/dev/null
    ceph_cli osd pool set "$pool" min_size "$REPLICATED_MIN_SIZE" >/dev/null
    ceph_cli osd pool application enable "$pool" rgw >/dev/null
  done

  ec_profile=$(awk -v name="$RGW_EC_DATA_POOL" '$1 == name { print $2 }' <<<"$existing")
  if [ -n "$ec_profile" ]; then
    [ "$ec_profile" = "$EC_PROFILE" ] ||
      die "pool $RGW_EC_DATA_POOL exists with erasure-code profile '$ec_profile' instead of $EC_PROFILE. Run 'deploy/ceph.sh purge' and start again"
  else
    log "creating erasure-coded pool $RGW_EC_DATA_POOL (profile $EC_PROFILE: k=2 m=1 over OSDs)"
    # Setting a profile that exists with the same values succeeds, but other values are rejected.
    ceph_cli osd erasure-code-profile set "$EC_PROFILE" k=2 m=1 crush-failure-domain=osd
    ceph_cli osd pool create "$RGW_EC_DATA_POOL" "$PG_NUM" "$PG_NUM" erasure "$EC_PROFILE" --autoscale-mode=off >/dev/null
    ceph_cli osd pool application enable "$RGW_EC_DATA_POOL" rgw >/dev/null
  fi
}

# --- RGW placement -----------------------------------------------------------

# Without a realm, `radosgw-admin zone get` and `zonegroup get` fail with
# ENOENT until the default zonegroup and zone exist. RGW creates them at its
# first start, and so does any radosgw-admin command that opens the full RGW
# store, such as `user list`. Running one here lets the placement be set
# before RGW first starts, which saves an RGW restart on a cold start.
ensure_default_zone() {
  rgw_admin zone get --rgw-zone "$RGW_ZONE" >/dev/null 2>&1 && return 0
  log "creating the default RGW zonegroup and zone"
  rgw_admin user list >/dev/null
  rgw_admin zone get --rgw-zone "$RGW_ZONE" >/dev/null ||
    die "RGW zone $RGW_ZONE is still missing after 'radosgw-admin user list' (log: $LOG_DIR/ceph-client.admin.log)"
}

# placement_is_current: true when the zonegroup lists ec-placement and the zone
# maps both placement targets onto the pools named at the top of this script.
placement_is_current() {
  local zonegroup zone expected actual
  zonegroup=$(rgw_admin zonegroup get --rgw-zonegroup "$RGW_ZONEGROUP") || return 1
  zone=$(rgw_admin zone get --rgw-zone "$RGW_ZONE") || return 1
  json_eval 'any(t["name"] == "'"$RGW_EC_PLACEMENT"'" for t in d["placement_targets"])' <<<"$zonegroup" |
    grep -qx True || return 1
  expected=$(printf '%s %s %s %s\n' \
    default-placement "$RGW_INDEX_POOL" "$RGW_DATA_POOL" "$RGW_EXTRA_POOL" \
    "$RGW_EC_PLACEMENT" "$RGW_INDEX_POOL" "$RGW_EC_DATA_POOL" "$RGW_EXTRA_POOL" | sort)
  # One line per placement target in the zone: name, index pool, data pool, extra pool.
  actual=$(json_eval '"\n".join(" ".join((p["key"], p["val"]["index_pool"], p["val"]["storage_classes"]["STANDARD"]["data_pool"], p["val"]["data_extra_pool"])) for p in d["placement_pools"])' <<<"$zone" | sort) ||
    return 1
  [ "$actual" = "$expected" ]
}

# Write the placement targets into the zonegroup and zone objects, and set
# PLACEMENT_CHANGED=true when anything was written. This cluster has no realm,
# so there is no period to update and commit (`radosgw-admin period update
# --commit` fails without a realm). RGW reads the zonegroup and zone objects
# when it starts, so a running RGW must be restarted to see the change.
PLACEMENT_CHANGED=false
ensure_placement() {
  if placement_is_current; then
    return 0
  fi
  log "configuring RGW placement targets default-placement and $RGW_EC_PLACEMENT"

  if ! rgw_admin zonegroup get --rgw-zonegroup "$RGW_ZONEGROUP" |
    json_eval 'any(t["name"] == "'"$RGW_EC_PLACEMENT"'" for t in d["placement_targets"])' | grep -qx True; then
    rgw_admin zonegroup placement add --rgw-zonegroup "$RGW_ZONEGROUP" \
      --placement-id "$RGW_EC_PLACEMENT" >/dev/null
  fi
  local placement data_pool action
  for placement in default-placement "$RGW_EC_PLACEMENT"; do
    data_pool=$RGW_DATA_POOL
    [ "$placement" = "$RGW_EC_PLACEMENT" ] && data_pool=$RGW_EC_DATA_POOL
    action=add
    rgw_admin zone get --rgw-zone "$RGW_ZONE" |
      json_eval 'any(p["key"] == "'"$placement"'" for p in d["placement_pools"])' | grep -qx True && action=modify
    rgw_admin zone placement "$action" --rgw-zone "$RGW_ZONE" --placement-id "$placement" \
      --index-pool "$RGW_INDEX_POOL" --data-pool "$data_pool" --data-extra-pool "$RGW_EXTRA_POOL" >/dev/null
  done
  PLACEMENT_CHANGED=true
  placement_is_current || die "RGW placement differs from the pool names in deploy/ceph.sh after radosgw-admin changed it. Compare with 'radosgw-admin -c $CONF zone get'"
}

# --- RGW ---------------------------------------------------------------------

rgw_answers_http() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$RGW_ADDR:$RGW_PORT/")" = 200 ]
}

start_rgw() {
  local log pidfile
  log=$(logfile_of rgw)
  pidfile=$(pidfile_of rgw)
  if [ ! -s "$RGW_DATA/keyring" ]; then
    mkdir -p "$RGW_DATA"
    ceph_cli auth get-or-create "client.$RGW_ID" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
      -o "$RGW_DATA/keyring"
  fi
  start_daemon "client.$RGW_ID" "$pidfile" "$log" radosgw -c "$CONF" -f -n "client.$RGW_ID"
  wait_for "RGW answering HTTP on $RGW_ADDR:$RGW_PORT" "$RGW_TIMEOUT" "$log" rgw_answers_http
}

# load_or_create_keys: define the S3 keys of both users, generating them on
# the first start. AWS-style keys: 20 upper-case characters and digits for the
# access key ID, 40 letters and digits for the secret.
load_or_create_keys() {
  if [ ! -s "$RGW_KEYS_FILE" ]; then
    local upper=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789
    local mixed=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
    (
      umask 077
      {
        printf 'APP_ACCESS_KEY=%s\n' "$(random_key 20 "$upper")"
        printf 'APP_SECRET_KEY=%s\n' "$(random_key 40 "$mixed")"
        printf 'STAGING_WRITER_ACCESS_KEY=%s\n' "$(random_key 20 "$upper")"
        printf 'STAGING_WRITER_SECRET_KEY=%s\n' "$(random_key 40 "$mixed")"
      } >"$RGW_KEYS_FILE.tmp"
    )
    mv "$RGW_KEYS_FILE.tmp" "$RGW_KEYS_FILE"
  fi
  # shellcheck source=/dev/null
  source "$RGW_KEYS_FILE"
}

# ensure_rgw_user UID DISPLAY_NAME ACCESS_KEY SECRET_KEY: create the user with
# that S3 key pair, or add the key pair to an existing user that lacks it.
ensure_rgw_user() {
  local uid=$1 display_name=$2 access_key=$3 secret_key=$4 info
  if info=$(rgw_admin user info --uid "$uid" 2>/dev/null); then
    if json_eval 'any(k["access_key"] == "'"$access_key"'" and k["secret_key"] == "'"$secret_key"'" for k in d["keys"])' \
      <<<"$info" | grep -qx True; then
      return 0
    fi
    log "adding the recorded S3 key to RGW user $uid"
    rgw_admin key create --uid "$uid" --key-type s3 --access-key "$access_key" --secret-key "$secret_key" >/dev/null
  else
    log "creating RGW user $uid"
    rgw_admin user create --uid "$uid" --display-name "$display_name" \
      --access-key "$access_key" --secret-key "$secret_key" >/dev/null
  fi
}

ensure_rgw_users() {
  load_or_create_keys
  ensure_rgw_user "$RGW_APP_USER" "Shoebox application" "$APP_ACCESS_KEY" "$APP_SECRET_KEY"
  # Later restricted by a bucket policy to writing into the staging bucket only.
  ensure_rgw_user "$RGW_STAGING_WRITER_USER" "Shoebox staging writer" \
    "$STAGING_WRITER_ACCESS_KEY" "$STAGING_WRITER_SECRET_KEY"
}

record_stack_env() {
  env_set SHOEBOX_S3_ENDPOINT "http://$RGW_ADDR:$RGW_PORT"
  # RGW 16 accepts SigV4 signatures made for any region name, so the value is
  # free. The zonegroup name keeps it meaningful.
  env_set SHOEBOX_S3_REGION "$RGW_ZONEGROUP"
  env_set SHOEBOX_S3_ACCESS_KEY_ID "$APP_ACCESS_KEY"
  env_set SHOEBOX_S3_SECRET_ACCESS_KEY "$APP_SECRET_KEY"
  env_set SHOEBOX_S3_STAGING_WRITER_ACCESS_KEY_ID "$STAGING_WRITER_ACCESS_KEY"
  env_set SHOEBOX_S3_STAGING_WRITER_SECRET_ACCESS_KEY "$STAGING_WRITER_SECRET_KEY"
  # RGW splits a LocationConstraint at the first ':' into the zonegroup API
  # name and the placement target.
  env_set SHOEBOX_S3_EC_LOCATION_CONSTRAINT "$RGW_ZONEGROUP:$RGW_EC_PLACEMENT"
  env_set SHOEBOX_CEPH_CONF "$CONF"
  env_set SHOEBOX_CEPH_EC_POOL "$RGW_EC_DATA_POOL"
  env_set SHOEBOX_CEPH_KEYRING "$ADMIN_KEYRING"
}

# --- Commands ----------------------------------------------------------------

cmd_install() {
  apt_install ceph-mon ceph-mgr ceph-osd radosgw ceph-common
}

cmd_start() {
  command -v ceph-mon >/dev/null || die "ceph-mon not found: run 'deploy/ceph.sh install' first"
  local started=$SECONDS
  if [ -e "$MON_READY" ]; then
    render_conf
  else
    create_cluster
  fi

  start_mon
  start_mgr
  start_osds
  ensure_pools
  ensure_default_zone
  ensure_placement
  if $PLACEMENT_CHANGED && pid_alive "$(pidfile_of rgw)"; then
    log "restarting RGW to load the new placement targets"
    stop_daemon "client.$RGW_ID" "$(pidfile_of rgw)"
  fi
  wait_for "all PGs active (ceph -c $CONF pg stat)" "$OSD_TIMEOUT" "$(logfile_of osd.0)" all_pgs_active
  start_rgw
  ensure_rgw_users
  record_stack_env
  log "ready in $((SECONDS - started))s: S3 endpoint http://$RGW_ADDR:$RGW_PORT, ceph.conf $CONF"
}

cmd_stop() {
  local name
  stop_daemon "client.$RGW_ID" "$(pidfile_of rgw)" 60
  # Each OSD takes about 2 s to stop, mostly waiting for the mon to mark it
  # down, and they do not depend on each other, so they stop in parallel.
  for name in $(osd_names); do
    stop_daemon "$name" "$(pidfile_of "$name")" 60 &
  done
  wait
  stop_daemon "mgr.$MGR_ID" "$(pidfile_of "mgr.$MGR_ID")" 60
  stop_daemon "mon.$MON_ID" "$(pidfile_of "mon.$MON_ID")" 60
}

cmd_status() {
  local name pidfile mon_running=false
  for name in $(daemon_names); do
    pidfile=$(pidfile_of "$name")
    if pid_alive "$pidfile"; then
      printf '%-8s pid %-8s running\n' "$name" "$(cat "$pidfile")"
      [ "$name" = "mon.$MON_ID" ] && mon_running=true
    else
      printf '%-8s %-12s not running\n' "$name" ""
    fi
  done
  if $mon_running; then
    CLI_TIMEOUT=20 ceph_cli -s || log "ceph -s failed"
  fi
}

cmd_purge() {
  cmd_stop
  log "deleting $CEPH_DIR"
  rm -rf "$CEPH_DIR"
  local key
  for key in "${STACK_ENV_KEYS[@]}"; do env_unset "$key"; done
}

case ${1:-} in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  *)
    echo "usage: $0 install|start|stop|status|purge" >&2
    exit 2
    ;;
esac
