#!/bin/sh
# ipgwsim's container entry point: runs a lab of simulated gateways in the namespace
# network (ipgwsim run --netns), its devices attached to one of the container's network
# interfaces, until the container is stopped (SIGTERM: the runtime removes what it made).
#
#   entrypoint.sh                   the lab file $IPGWSIM_LAB (default /etc/ipgwsim/lab.toml)
#   entrypoint.sh LAB.toml [OPTION ...]     that lab file, options of `ipgwsim run` added
#   entrypoint.sh MODEL[:N] ... [OPTION ...]   `ipgwsim run MODEL[:N] ...` without a file
#
# The environment says where the devices go (docs/containers.md):
#   IPGWSIM_NIC       the container's interface the devices attach to (default eth0)
#   IPGWSIM_ATTACH    where their links go (`ipgwsim run --attach`); default
#                     macvlan:$IPGWSIM_NIC: each device is on the NIC's Ethernet segment
#                     with a macvlan of its own (its own MAC); `lab`: as the lab file says
#   IPGWSIM_NIC_WAIT  seconds to wait for the NIC to appear (default 60: containerlab adds
#                     a node's data links after the container has started)
#   IPGWSIM_BIN       the ipgwsim program (default: ipgwsim on PATH)
#   IPGWSIM_STATE, IPGWSIM_REGISTRY   as for ipgwsim run (docs/runtime.md)
#
# The same script runs on a host, in a network namespace that stands for a container
# (tests/test_container.py does that).
set -eu

me="ipgwsim-entrypoint"
fail() {
    echo "$me: $*" >&2
    exit 2
}

nic=${IPGWSIM_NIC:-eth0}
attach=${IPGWSIM_ATTACH:-macvlan:$nic}
wait_for=${IPGWSIM_NIC_WAIT:-60}
ipgwsim=${IPGWSIM_BIN:-ipgwsim}

case $wait_for in
    '' | *[!0-9]*) fail "IPGWSIM_NIC_WAIT=$wait_for: give a whole number of seconds" ;;
esac
command -v ip >/dev/null 2>&1 || fail "ip (iproute2) is not installed: the namespace network needs it"
command -v "$ipgwsim" >/dev/null 2>&1 || fail "$ipgwsim is not installed (IPGWSIM_BIN names the ipgwsim program)"

# What to run: a lab file (the first argument, or $IPGWSIM_LAB) or models.
if [ "$#" -eq 0 ]; then
    lab=${IPGWSIM_LAB:-/etc/ipgwsim/lab.toml}
    [ -f "$lab" ] || fail "no lab file $lab: mount one there, set IPGWSIM_LAB, or give models (IP6000:2)"
    set -- --lab "$lab"
else
    case $1 in
        -*) ;;
        *.toml)
            [ -f "$1" ] || fail "no lab file $1"
            lab=$1
            shift
            set -- --lab "$lab" "$@"
            ;;
    esac
fi

# The NIC the devices attach to: wait until it is there, then bring it up.
if [ "$attach" != lab ]; then
    waited=0
    until ip link show dev "$nic" >/dev/null 2>&1; do
        if [ "$waited" -ge "$wait_for" ]; then
            fail "no network interface $nic after ${wait_for} s (IPGWSIM_NIC names the one the devices attach to)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    ip link set dev "$nic" up || fail "cannot bring $nic up (the container needs CAP_NET_ADMIN: run it privileged)"
    set -- --attach "$attach" "$@"
fi

# exec: the runtime is the container's main process and gets docker stop's SIGTERM.
exec "$ipgwsim" run --netns "$@"
