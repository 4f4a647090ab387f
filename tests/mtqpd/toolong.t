# Lines are limited to 998 octets before CRLF (MTQPD_MAX_LINE): at the limit and past it.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C-raw: b'COMMENT ' + b'x' * 990 + b'\r\n'
S: +OK
C-raw: b'COMMENT ' + b'x' * 990 + b'\n'
S: +OK
C-raw: b'COMMENT ' + b'x' * 991 + b'\r\n'
S: -BAD/toolong Command line longer than 998 octets
C-raw: b'COMMENT ' + b'x' * 991 + b'\n'
S: -BAD/toolong Command line longer than 998 octets
# Far too long: discarded as it arrives, then the session goes on.
C-raw: b'x' * 200000 + b'\r\n'
S: -BAD/toolong Command line longer than 998 octets
C-raw: b'TRACK mtrk.delivered@test.example ' + b'QUFB' * 500 + b'\r\n'
S: -BAD/toolong Command line longer than 998 octets
C: COMMENT still here
S: +OK
C: QUIT
S: +OK Bye
EOF
