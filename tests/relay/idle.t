#! config idle_timeout=1
# A client that says nothing for idle_timeout seconds gets 421 4.4.2 and is disconnected.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
SLEEP 2500
S: 421 4.4.2 ${HOSTNAME} Idle timeout, closing connection
EOF
