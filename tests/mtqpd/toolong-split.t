# An overlong line that arrives in pieces, the session waiting between them: it is refused
# whole, its tail ("QUIT") is not a command.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C-raw: b'x' * 1100
SLEEP 300
C-raw: b'QUIT\r\n'
S: -BAD/toolong Command line longer than 998 octets
C: COMMENT still here
S: +OK
C: QUIT
S: +OK Bye
