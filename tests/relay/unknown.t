# Unknown commands: 500 5.5.2; STARTTLS without a certificate: 502; NUL in a command.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: FOO bar
S: 500 5.5.2 Command not recognized
C: EXPN list
S: 500 5.5.2 Command not recognized
C: STARTTLS
S: 502 5.5.1 STARTTLS not available
C-raw: b'NOOP\x00x\r\n'
S: 500 5.5.2 NUL character in command
C:
S: 500 5.5.2 Command not recognized
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
