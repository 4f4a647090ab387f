#! config max_connections=2
# Beyond max_connections a client gets a negative greeting and the connection is closed.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
OPEN second
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
OPEN third
S: -TEMP/MTQP/unavailable Too many connections, try again later
EOF
USE second
C: QUIT
S: +OK Bye
EOF
# Once a slot is free, new connections are served again.
SLEEP 500
OPEN fourth
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: QUIT
S: +OK Bye
EOF
USE main
C: QUIT
S: +OK Bye
EOF
