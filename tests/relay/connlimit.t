#! config max_connections=1
#! config connection_wait=1
# max_connections=1: a second client waits in the listen backlog; when no session ends
# within connection_wait (1 s) it gets 421 4.7.0 and is closed; the first goes on.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
OPEN second
S: 421 4.7.0 Too many connections, try again later
EOF
USE main
C: NOOP
S: 250 2.0.0 Ok
# A third client connects while the first is still open: it waits, and is served as soon
# as the first session ends (no 421, although it came over the cap).
OPEN third
USE main
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
USE third
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
