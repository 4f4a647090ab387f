#! config max_connections=1
# max_connections=1: the second client gets 421 4.7.0 and is closed; the first goes on.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
OPEN second
S: 421 4.7.0 Too many connections, try again later
EOF
USE main
C: NOOP
S: 250 2.0.0 Ok
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
