#!/bin/bash
# Starts the control plane of the single-machine OpenStack Zed test bed from
# Debian 12 packages: rabbitmq, mariadb, keystone, placement, glance, the
# Neutron stand-in, nova-api, -conductor and -scheduler. The Go harness
# (bed.go) writes this script into $ST/bin, runs it, then starts the
# nova-compute hosts itself. Adapted from the project's shared recipe
# (testbed/openstack/up.sh), measured on this kind of machine.
#
# env: ST                 runtime directory (all state, configs, logs, pids)
#      TEMPLATES          where install-deps.sh extracted nova-common and glance-common
#      REPORT_INTERVAL    nova [DEFAULT]report_interval
#      SERVICE_DOWN_TIME  nova [DEFAULT]service_down_time
#      VIGIL_OPENSTACK_BED  inherited by every daemon: how Stop recognises ours
#
# Idempotent: a service whose pid file names a live process is left alone;
# databases are initialised once (marker files in $ST/db). Every listener is
# on 127.0.0.1; MariaDB has no TCP listener at all (unix socket).
set -euo pipefail
: "${ST:?}" "${TEMPLATES:?}" "${REPORT_INTERVAL:?}" "${SERVICE_DOWN_TIME:?}" "${VIGIL_OPENSTACK_BED:?}"
PY=/usr/bin/python3 # not a pyenv python3 on PATH: the OpenStack modules are Debian's
DB_PASS=dbpass
ADMIN_PASS=admin
SVC_PASS=secret
H=127.0.0.1
KS=http://$H:5000
TRANSPORT=rabbit://guest:guest@$H:5672/
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME

T0=$(date +%s.%N)
log() { printf '[%s +%.1fs] %s\n' "$(date +%H:%M:%S)" "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }

mkdir -p "$ST"/{pids,logs,db,etc,bin,run,lock} "$ST"/etc/{keystone,nova,placement,glance}
cd "$ST" # never run python from a directory holding a 'cmd' package
BASE=$ST/bin

[ -f "$TEMPLATES/usr/share/nova-common/api-paste.ini" ] ||
	{ echo "missing $TEMPLATES/usr/share/nova-common/api-paste.ini: run scripts/install-deps.sh openstack" >&2; exit 1; }

alive() { [ -f "$ST/pids/$1.pid" ] && kill -0 "$(cat "$ST/pids/$1.pid")" 2>/dev/null; }
start() { # start NAME CMD... : own session (pgid == pid == sid), pid recorded
	local name=$1; shift
	if alive "$name"; then log "$name already running (pid $(cat "$ST/pids/$name.pid"))"; return 0; fi
	setsid "$@" >>"$ST/logs/$name.out" 2>&1 </dev/null &
	echo $! >"$ST/pids/$name.pid"
	log "started $name pid $!"
}
wait_http() { # wait_http URL : any HTTP answer
	local i
	for i in $(seq 1 600); do
		curl -s -o /dev/null -m 2 "$1" && return 0
		sleep 0.2
	done
	echo "timeout waiting for $1" >&2; return 1
}
MYSOCK=$ST/run/mysqld.sock
dburl() { echo "mysql+pymysql://os:$DB_PASS@localhost/$1?unix_socket=$MYSOCK&charset=utf8"; }
mkbin() { # python console-script wrapper (the daemon packages are not installed)
	printf '#!%s\nimport sys\nfrom %s import %s\nsys.exit(%s())\n' "$PY" "$2" "$3" "$3" >"$ST/bin/$1"
	chmod +x "$ST/bin/$1"
}
mkbin nova-api nova.cmd.api main
mkbin nova-conductor nova.cmd.conductor main
mkbin nova-scheduler nova.cmd.scheduler main
mkbin nova-compute nova.cmd.compute main
mkbin nova-manage nova.cmd.manage main
mkbin glance-api glance.cmd.api main
mkbin glance-manage glance.cmd.manage main
authtoken() { # authtoken USER
	cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS/
auth_url = $KS/
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SVC_PASS
service_token_roles_required = true
EOF
}
ksauth() { # ksauth SECTION USER : keystoneauth password plugin section
	cat <<EOF
[$1]
region_name = RegionOne
auth_type = password
auth_url = $KS/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SVC_PASS
EOF
}

# ---------------------------------------------------------------- rabbitmq
R=$ST/rabbitmq; mkdir -p "$R"
cat >"$ST/bin/rmq-env" <<EOF
#!/bin/sh
export HOME=$R
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=$H RABBITMQ_NODE_PORT=5672
export RABBITMQ_MNESIA_BASE=$R/mnesia RABBITMQ_LOG_BASE=$R/log RABBITMQ_PID_FILE=$R/rabbit.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$R/enabled_plugins RABBITMQ_CONFIG_FILE=$R/rabbitmq
export ERL_EPMD_ADDRESS=$H RABBITMQ_DIST_PORT=25672
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
exec "\$@"
EOF
chmod +x "$ST/bin/rmq-env"
echo '[].' >"$R/enabled_plugins"
printf 'loopback_users = none\nlisteners.tcp.default = %s:5672\n' $H >"$R/rabbitmq.conf"
start epmd "$ST/bin/rmq-env" epmd -address $H
sleep 0.3
start rabbitmq "$ST/bin/rmq-env" /usr/lib/rabbitmq/bin/rabbitmq-server
"$ST/bin/rmq-env" /usr/lib/rabbitmq/bin/rabbitmqctl wait "$R/rabbit.pid" --timeout 180 >/dev/null
log "rabbitmq ready"

# ---------------------------------------------------------------- mariadb
if [ ! -d "$ST/mysql/mysql" ]; then
	mariadb-install-db --no-defaults --user=root --datadir="$ST/mysql" \
		--auth-root-authentication-method=normal --skip-test-db >"$ST/logs/mariadb-install.log" 2>&1
fi
start mariadb mariadbd --no-defaults --user=root --datadir="$ST/mysql" --socket="$MYSOCK" \
	--skip-networking --pid-file="$ST/run/mysqld.pid" --log-error="$ST/logs/mariadb.err" \
	--innodb-buffer-pool-size=128M --max-connections=1000 --skip-log-bin \
	--innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4
for t in $(seq 1 300); do mariadb -S "$MYSOCK" -uroot -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
{
	for d in keystone placement glance nova_api nova_cell0 nova; do echo "CREATE DATABASE IF NOT EXISTS $d;"; done
	echo "CREATE USER IF NOT EXISTS 'os'@'localhost' IDENTIFIED BY '$DB_PASS';"
	echo "GRANT ALL PRIVILEGES ON *.* TO 'os'@'localhost'; FLUSH PRIVILEGES;"
} | mariadb -S "$MYSOCK" -uroot
log "mariadb ready"

# ---------------------------------------------------------------- keystone
E=$ST/etc/keystone
cat >"$E/keystone.conf" <<EOF
[DEFAULT]
log_file = $ST/logs/keystone.log
[database]
connection = $(dburl keystone)
[token]
provider = fernet
expiration = 28800
[fernet_tokens]
key_repository = $E/fernet-keys
[fernet_receipts]
key_repository = $E/fernet-keys
[credential]
key_repository = $E/credential-keys
EOF
KM="keystone-manage --config-file $E/keystone.conf"
if [ ! -f "$ST/db/.keystone-done" ]; then
	$KM db_sync
	$KM fernet_setup --keystone-user root --keystone-group root
	$KM credential_setup --keystone-user root --keystone-group root
	$KM bootstrap --bootstrap-password "$ADMIN_PASS" --bootstrap-admin-url $KS/v3/ \
		--bootstrap-internal-url $KS/v3/ --bootstrap-public-url $KS/v3/ --bootstrap-region-id RegionOne
	touch "$ST/db/.keystone-done"; log "keystone db initialised"
fi
# uwsgi: single-threaded worker processes; its plain --http-socket does not do
# keep-alive, so tell clients (else keystoneauth reuses a closed connection).
UW="uwsgi --plugin python3 --master --die-on-term --enable-threads --lazy-apps --need-app
    --buffer-size 65535 --threads 1 --listen 64 --add-header Connection:close"
start keystone env OS_KEYSTONE_CONFIG_DIR="$E" $UW --processes 2 --http-socket $H:5000 \
	--wsgi-file /usr/bin/keystone-wsgi-public --logto "$ST/logs/keystone-uwsgi.log"
wait_http $KS/v3
log "keystone up"
if [ ! -f "$ST/db/.catalog-done" ]; then
	$PY "$BASE/bootstrap_catalog.py" $KS/v3 "$ADMIN_PASS" "$SVC_PASS"
	touch "$ST/db/.catalog-done"
fi

# ---------------------------------------------------------------- placement
E=$ST/etc/placement
{
	cat <<EOF
[DEFAULT]
log_file = $ST/logs/placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $(dburl placement)
EOF
	authtoken placement
} >"$E/placement.conf"
if [ ! -f "$ST/db/.placement-done" ]; then
	OS_PLACEMENT_CONFIG_DIR=$E placement-manage --config-file "$E/placement.conf" db sync
	touch "$ST/db/.placement-done"; log "placement db initialised"
fi
start placement env OS_PLACEMENT_CONFIG_DIR="$E" $UW --processes 2 --http-socket $H:8778 \
	--wsgi-file /usr/bin/placement-api --logto "$ST/logs/placement-uwsgi.log"

# ---------------------------------------------------------------- glance
E=$ST/etc/glance
mkdir -p "$ST/glance"/{images,staging,tasks}
cp "$TEMPLATES/usr/share/glance-common/glance-api-paste.ini" "$E/glance-api-paste.ini"
{
	cat <<EOF
[DEFAULT]
bind_host = $H
bind_port = 9292
workers = 1
log_file = $ST/logs/glance-api.log
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $ST/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $ST/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $ST/glance/tasks
[database]
connection = $(dburl glance)
[paste_deploy]
flavor = keystone
config_file = $E/glance-api-paste.ini
[oslo_concurrency]
lock_path = $ST/lock
EOF
	authtoken glance
} >"$E/glance-api.conf"
if [ ! -f "$ST/db/.glance-done" ]; then
	"$ST/bin/glance-manage" --config-file "$E/glance-api.conf" db_sync >>"$ST/logs/glance-manage.log" 2>&1
	touch "$ST/db/.glance-done"; log "glance db initialised"
fi
start glance-api "$ST/bin/glance-api" --config-file "$E/glance-api.conf"

# ---------------------------------------------------------------- the Neutron stand-in
# Nova Zed needs a network endpoint even for servers booted with networks=none
# (GET /servers/{id} and evacuate list ports).
start fake-neutron $PY "$BASE/fake_neutron.py" 9696 "$ST/logs/fake-neutron.log"

# ---------------------------------------------------------------- nova
E=$ST/etc/nova
mkdir -p "$ST/nova/instances"
cp "$TEMPLATES/usr/share/nova-common/api-paste.ini" "$E/api-paste.ini"
{
	cat <<EOF
[DEFAULT]
transport_url = $TRANSPORT
my_ip = $H
state_path = $ST/nova
instances_path = $ST/nova/instances
enabled_apis = osapi_compute
osapi_compute_listen = $H
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
compute_driver = fake.FakeDriver
report_interval = $REPORT_INTERVAL
service_down_time = $SERVICE_DOWN_TIME
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $E/api-paste.ini
[scheduler]
discover_hosts_in_cells_interval = 5
workers = 1
[conductor]
workers = 1
[oslo_concurrency]
lock_path = $ST/lock
[vnc]
enabled = false
[glance]
region_name = RegionOne
EOF
	authtoken nova
	ksauth placement nova
	ksauth neutron nova
} >"$E/nova.conf"
# database settings only for the control services: nova-compute must not have them
cat >"$E/nova-db.conf" <<EOF
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
EOF
NC="--config-file $E/nova.conf --config-file $E/nova-db.conf"
NM="$ST/bin/nova-manage $NC"
if [ ! -f "$ST/db/.nova-done" ]; then
	$NM api_db sync
	$NM cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)"
	$NM cell_v2 list_cells | grep -q ' cell1 ' || $NM cell_v2 create_cell --name cell1
	$NM db sync
	touch "$ST/db/.nova-done"; log "nova dbs initialised"
fi
start nova-api "$ST/bin/nova-api" $NC --log-file "$ST/logs/nova-api.log"
start nova-conductor "$ST/bin/nova-conductor" $NC --log-file "$ST/logs/nova-conductor.log"
start nova-scheduler "$ST/bin/nova-scheduler" $NC --log-file "$ST/logs/nova-scheduler.log"
# a nova-compute blocks (10 s RPC timeouts) until a conductor consumes its queue
for t in $(seq 1 240); do
	"$ST/bin/rmq-env" /usr/lib/rabbitmq/bin/rabbitmqctl -q list_queues name consumers 2>/dev/null |
		awk '$1=="conductor" && $2>0 {f=1} END{exit !f}' && break
	sleep 0.5
done
log "nova-conductor consuming"
wait_http http://$H:8778/
wait_http http://$H:9292/
wait_http http://$H:8774/
log "control plane ready"
