#!/usr/bin/env bash
# A Postfix of its own for the bounce tests (pytest marker `mta`): loopback only, its own
# configuration, queue, Maildirs and mail log under one directory, so it is the same on
# every machine and touches nothing of a system Postfix.
#
#   .ci/postfix.sh start [DIR] [PORT]   # default /var/tmp/countersign-postfix, 2525
#   .ci/postfix.sh stop  [DIR]
#
# What it does with mail (the domain countersign.test, never a real one):
# * member<N>@countersign.test: accepted and delivered to DIR/mail/members/ (a Maildir);
# * any other user @countersign.test: accepted at SMTP (smtpd_reject_unlisted_recipient=no),
#   then refused by the virtual delivery agent, so Postfix writes a real DSN (5.1.1) to the
#   envelope sender: the campaign message's VERP address;
# * bounce+<anything>@bounces.countersign.test (the BOUNCE_DOMAIN): DIR/mail/bounces/, the
#   Maildir that `manage.py process_bounces --maildir` reads.
# The log goes to DIR/log/maillog (maillog_file, no syslog needed): reconcile_in_doubt reads it.
# With Debian's opendkim installed, a second port (PORT+1) signs what it accepts, as a relay
# that signs for the association would: DKIM with d= the From domain, selector cs2026, the
# key DIR/dkim/relay.private (made on the first start; the sender-authentication tests
# publish its public half in their DNS zone and verify what reaches the Maildir).
set -euo pipefail

action="${1:-start}"
root="${2:-/var/tmp/countersign-postfix}"
port="${3:-2525}"
conf="$root/etc"

if ! command -v postfix >/dev/null && [ ! -x /usr/sbin/postfix ]; then
  echo "Postfix is not installed (apt-get install -y postfix)" >&2; exit 2
fi
PATH="$PATH:/usr/sbin"

dkim="$root/dkim"
milter_port=$((port + 6366))  # 8891 with the default port, OpenDKIM's usual
opendkim_bin="$(command -v opendkim || echo /usr/sbin/opendkim)"

if [ "$action" = stop ]; then
  [ -f "$conf/main.cf" ] && postfix -c "$conf" stop 2>/dev/null || true
  [ -f "$dkim/opendkim.pid" ] && kill "$(cat "$dkim/opendkim.pid")" 2>/dev/null || true
  exit 0
fi

mkdir -p "$conf" "$root/spool" "$root/data" "$root/log" "$root/mail"
chmod 755 "$root" "$root/log"
chown postfix "$root/data"
chown nobody:nogroup "$root/mail"
new="$(mktemp -d)"
trap 'rm -rf "$new"' EXIT

# All of the bounce domain's mail (DSNs to the VERP addresses, feedback-loop complaints, mail
# readers' unsubscribe mails) goes to the Maildir process_bounces reads.
cat > "$new/vmailbox" <<'EOF'
/^member[0-9]+@countersign\.test$/ members/
/@bounces\.countersign\.test$/ bounces/
EOF

cat > "$new/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $root/spool
data_directory = $root/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.countersign.test
mydomain = countersign.test
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = countersign.test, bounces.countersign.test
virtual_mailbox_base = $root/mail
virtual_mailbox_maps = regexp:$conf/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_reject_unlisted_recipient = no
recipient_delimiter = +
maillog_file = $root/log/maillog
smtputf8_enable = no
# Without TZ: the daemons log in the machine's zone (/etc/localtime), as a Postfix started by
# the system does, also when pytest starts this one (Django sets TZ to TIME_ZONE in pytest).
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG LANG=C POSIXLY_CORRECT
biff = no
# Nothing leaves this machine: mail for any other domain (the staff's notices) is dropped.
default_transport = discard
relay_transport = discard
EOF

# Debian's services, without chroot (the queue is not in /var/spool/postfix), and smtpd on
# the loopback port only.
sed -E -e 's/^smtp( +)inet .*/127.0.0.1:'"$port"' inet n - n - - smtpd/' \
       -e 's/^([a-z][a-z0-9-]* +(unix|unix-dgram|inet|fifo|pass) +[-yn] +[-yn]) +y /\1 n /' \
       /etc/postfix/master.cf > "$new/master.cf"

if [ -x "$opendkim_bin" ]; then
  mkdir -p "$dkim"
  [ -f "$dkim/relay.private" ] || openssl genrsa -out "$dkim/relay.private" 2048 2>/dev/null
  chmod 644 "$dkim/relay.private"  # a test key: OpenDKIM runs as another user
  echo "relay %:cs2026:$dkim/relay.private" > "$dkim/KeyTable"
  echo "*@* relay" > "$dkim/SigningTable"
  cat > "$dkim/opendkim.conf" <<EOF
Syslog no
Mode s
Socket inet:$milter_port@127.0.0.1
PidFile $dkim/opendkim.pid
KeyTable file:$dkim/KeyTable
SigningTable refile:$dkim/SigningTable
Canonicalization relaxed/relaxed
RequireSafeKeys false
InternalHosts 127.0.0.1
EOF
  if ! { [ -f "$dkim/opendkim.pid" ] && kill -0 "$(cat "$dkim/opendkim.pid")" 2>/dev/null; }; then
    "$opendkim_bin" -x "$dkim/opendkim.conf"
  fi
  echo "127.0.0.1:$((port + 1)) inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$milter_port -o milter_default_action=tempfail" >> "$new/master.cf"
fi

running=no
if [ -f "$root/spool/pid/master.pid" ] && postfix -c "$conf" status >/dev/null 2>&1; then
  running=yes
fi
if [ "$running" = yes ] && cmp -s "$new/main.cf" "$conf/main.cf" \
   && cmp -s "$new/master.cf" "$conf/master.cf" && cmp -s "$new/vmailbox" "$conf/vmailbox"; then
  exit 0  # already running with this configuration
fi
if [ "$running" = yes ]; then  # started with an older configuration: start it afresh
  postfix -c "$conf" stop
  for _ in $(seq 50); do postfix -c "$conf" status >/dev/null 2>&1 || break; sleep 0.1; done
fi
cp "$new/main.cf" "$new/master.cf" "$new/vmailbox" "$conf/"

postfix -c "$conf" check
postfix -c "$conf" start
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && exit 0
  sleep 0.2
done
echo "Postfix did not open 127.0.0.1:$port" >&2; exit 1
