#!/bin/sh
# Installs ipgwsim and the Debian tools its namespace network and users need into a Debian
# system (the container image's build runs it; so can a host or a VM):
#
#   install.sh SOURCE     SOURCE: a checkout of ipgwsim or a wheel (ipgwsim-*.whl)
#
# Debian packages: iproute2 (ip: namespaces and links), tftp-hpa (a TFTP client to reach
# devices in TFTP mode), curl (their web servers), dnsmasq-base (DHCP, for a provisioning
# node of the same image, container/containerlab/). Python packages: ipgwsim and its
# dependencies from PyPI, with pip.
set -eu

source=${1:?usage: install.sh SOURCE (a checkout of ipgwsim or a wheel)}
[ -e "$source" ] || { echo "install.sh: no checkout or wheel $source" >&2; exit 2; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends iproute2 tftp-hpa curl dnsmasq-base
rm -rf /var/lib/apt/lists/*

python3 -m pip install --no-cache-dir --root-user-action=ignore "$source"
# What the image runs: fail the build here, not the container at its start.
ipgwsim --version >/dev/null
