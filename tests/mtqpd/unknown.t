# Unknown commands and wrong arguments: -BAD (RFC 3887 section 2.3).
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: HELO there
S: -BAD/unknown Unknown command
C: TRACK onlyone
S: -BAD/syntax Usage: TRACK envid mtrk-secret
C: TRACK a b c
S: -BAD/syntax Usage: TRACK envid mtrk-secret
C: TRACK
S: -BAD/syntax Usage: TRACK envid mtrk-secret
C: TRACK bad+ZZxtext@test.example ${SECRET}
S: -BAD/syntax The ENVID is not valid xtext
C: QUIT now
S: -BAD/syntax QUIT takes no arguments
C: STARTTLS
S: -ERR/unsupported STARTTLS is not offered by this server
C:
S: -BAD/syntax Empty command line
C-raw: b'   \r\n'
S: -BAD/syntax Empty command line
C-raw: b'COMMENT caf\xc3\xa9\r\n'
S: -BAD/syntax Command line has NUL, control or non-ASCII octets
C: COMMENT
S: +OK
C: QUIT
S: +OK Bye
EOF
