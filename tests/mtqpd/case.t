# Command keywords are case-insensitive (RFC 3887 section 2.2); whitespace may be tabs.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: comment lower case
S: +OK
C-raw: b'Track\tmtrk.delivered@test.example \t${SECRET}\r\n'
S: +OK+ Tracking information follows
S* \.
C: tRaCk mtrk.unknown@test.example ${SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: qUiT
S: +OK Bye
EOF
