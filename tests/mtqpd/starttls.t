#! tls
# STARTTLS, then a new greeting without STARTTLS; a second STARTTLS is -BAD/tlsinprogress.
S: +OK+/MTQP ${HOSTNAME} msgtrk mtqpd ready
S: STARTTLS
S: .
C: STARTTLS extra
S: -BAD/syntax STARTTLS takes no arguments
# Commands before STARTTLS in the same batch are fine when STARTTLS is last.
C-batch:
C: COMMENT before tls
C: starttls
C-end
S: +OK
S: +OK Begin TLS negotiation
STARTTLS
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: STARTTLS
S: -BAD/tlsinprogress TLS is already active
C: TRACK mtrk.delivered@test.example ${SECRET}
S: +OK+ Tracking information follows
S* Action: delivered
S* \.
C: QUIT
S: +OK Bye
EOF
