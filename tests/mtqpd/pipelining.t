# Several commands in one write are answered in order (RFC 3887 section 8).
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C-batch:
C: TRACK mtrk.other@test.example ${SECRET2}
C: COMMENT between
C: TRACK mtrk.unknown@test.example ${SECRET}
C: NOSUCH command
C: TRACK mtrk.delivered@test.example ${SECRET}
C: QUIT
C-end
S: +OK+ Tracking information follows
S* Original-Envelope-Id: mtrk\.other@test\.example
S* Action: delayed
S* \.
S: +OK
S: -ERR/notfound No tracking information for this ENVID and secret
S: -BAD/unknown Unknown command
S: +OK+ Tracking information follows
S* Original-Envelope-Id: mtrk\.delivered@test\.example
S* Action: delivered
S* \.
S: +OK Bye
EOF
