# the teacher's solution for gw (nemu lab check --solution runs it in the machine)
sysctl -w net.ipv4.ip_forward=1
printf '#!/bin/sh\nsysctl -w net.ipv4.ip_forward=1\n' > /etc/rc.local
chmod +x /etc/rc.local
