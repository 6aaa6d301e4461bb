#!/bin/busybox sh
# /init of the rustland test VM (run by busybox sh as PID 1).
# Mounts the pseudo file systems, opens the result channel (second serial
# port, /dev/ttyS1) on fd 3, runs /rustland/job.sh and powers the guest off.

/bin/busybox --install -s
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /run/scx
hostname rustland-vm
. /rustland/env.sh

# Serial lines to the host must not be mangled (no CR insertion, no echo).
stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null
exec 3>/dev/ttyS1

. /rustland/lib.sh
. /rustland/job.sh

rl_main
sync
poweroff -f
# poweroff needs ACPI; qemu runs with -no-reboot, so rebooting ends it too.
reboot -f
