# NUL and other control octets in a command line: -BAD, and the session goes on.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C-raw: b'TRACK mtrk.delivered@test.example\x00 x\r\n'
S: -BAD/syntax Command line has NUL, control or non-ASCII octets
C-raw: b'\x00\r\n'
S: -BAD/syntax Command line has NUL, control or non-ASCII octets
C-raw: b'COMMENT a\rb\r\n'
S: -BAD/syntax Command line has NUL, control or non-ASCII octets
C-raw: b'QUIT\x00\r\n'
S: -BAD/syntax Command line has NUL, control or non-ASCII octets
C: QUIT
S: +OK Bye
EOF
