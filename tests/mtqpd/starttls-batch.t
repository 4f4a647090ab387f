#! tls
# STARTTLS must be the last command of a batch: with data after it the server refuses
# (-BAD/pipelining), stays in plain text and answers the rest (cf. CVE-2011-0411).
S: +OK+/MTQP ${HOSTNAME} msgtrk mtqpd ready
S: STARTTLS
S: .
C-batch:
C: STARTTLS
C: TRACK mtrk.delivered@test.example ${SECRET}
C-end
S: -BAD/pipelining STARTTLS must be the last command of a batch
S: +OK+ Tracking information follows
S* \.
C-raw: b'STARTTLS\r\nCOMMENT injected\r\n'
S: -BAD/pipelining STARTTLS must be the last command of a batch
S: +OK
# A STARTTLS on its own still works afterwards.
C: STARTTLS
S: +OK Begin TLS negotiation
STARTTLS
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: QUIT
S: +OK Bye
EOF
