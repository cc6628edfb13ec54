#!/bin/sh
# The provisioning node of ipgwsim.clab.yml: on each link to a site (eth1, eth2), an
# address (10.77.N.1/24 on the N-th), a DHCP range and the update server's URL on that
# address (option 215 for innovaphone's vendor class, docs/update-server.md); the update
# server (python's http.server on port 80) serves the update scripts in www/.
#
#   PROVISION_NICS   the links to the sites (default "eth1 eth2")
#   PROVISION_WWW    the update scripts (default /provisioning/www)
#   PROVISION_LEASES dnsmasq's lease file (default /var/lib/misc/provision.leases)
set -eu

nics=${PROVISION_NICS:-eth1 eth2}
www=${PROVISION_WWW:-/provisioning/www}
leases=${PROVISION_LEASES:-/var/lib/misc/provision.leases}
dhcp=""
n=1
for nic in $nics; do
    # containerlab adds the links after the container has started.
    waited=0
    until ip link show dev "$nic" >/dev/null 2>&1; do
        if [ "$waited" -ge 60 ]; then
            echo "provision.sh: no network interface $nic after 60 s" >&2
            exit 2
        fi
        sleep 1
        waited=$((waited + 1))
    done
    ip address add "10.77.$n.1/24" dev "$nic"
    ip link set dev "$nic" up
    dhcp="$dhcp --interface=$nic --dhcp-range=set:$nic,10.77.$n.50,10.77.$n.249,255.255.255.0,1h"
    dhcp="$dhcp --dhcp-option=tag:$nic,vendor:1.3.6.1.4.1.6666,215,http://10.77.$n.1/"
    n=$((n + 1))
done

python3 -m http.server --directory "$www" 80 &
web=$!
# shellcheck disable=SC2086 # $dhcp is a list of options
dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null --port=0 --bind-interfaces \
    --log-dhcp --dhcp-leasefile="$leases" $dhcp &
dhcpd=$!
# Stopped (docker stop: SIGTERM), both servers stop.
trap 'kill "$web" "$dhcpd" 2>/dev/null; exit 0' TERM INT
wait
