#! idle 2
# The idle timer (here 2 s through --idle-timeout-for-tests) closes a silent connection;
# each command restarts it.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
SLEEP 1000
C: COMMENT keep alive
S: +OK
SLEEP 1000
C: COMMENT keep alive
S: +OK
EOF
