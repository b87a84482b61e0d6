ip route add 10.0.1.0/24 via 10.0.2.254
printf '#!/bin/sh\nip route add 10.0.1.0/24 via 10.0.2.254\n' > /etc/rc.local
chmod +x /etc/rc.local
