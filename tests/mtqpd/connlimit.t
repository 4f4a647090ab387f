#! config max_connections=2
#! config connection_wait=1
# Beyond max_connections a client waits in the listen backlog; when no session ends
# within connection_wait (1 s) it gets a negative greeting and the connection is closed.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
OPEN second
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
OPEN third
S: -TEMP/MTQP/unavailable Too many connections, try again later
EOF
# A client over the cap is served as soon as a session ends: the fourth waits for the
# second's QUIT, and gets the greeting (no refusal).
OPEN fourth
USE second
C: QUIT
S: +OK Bye
EOF
USE fourth
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: QUIT
S: +OK Bye
EOF
USE main
C: QUIT
S: +OK Bye
EOF
