#!/usr/bin/env bash
# Installs the system tools vimage's tests and benchmarks use as real peers,
# on Debian or Ubuntu. Run as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-tools: run as root (sudo $0)" >&2
  exit 1
fi
pkgs=(iproute2 iputils-ping traceroute iperf3 tcpdump nftables ethtool kmod procps python3 python3-scapy nmap hping3 netcat-openbsd curl make g++ systemd util-linux socat dnsutils dnsmasq-base radvd nginx openssh-server openssh-client apache2-utils golang-go libpcap0.8)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -e /dev/net/tun ] || modprobe tun || echo "install-test-tools: /dev/net/tun missing and 'modprobe tun' failed" >&2
echo "install-test-tools: ready"
