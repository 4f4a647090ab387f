# EHLO lists the extensions (no STARTTLS without a certificate); HELO, NOOP, VRFY, HELP, QUIT.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S: 250-${HOSTNAME} greets client.example
S: 250-PIPELINING
S: 250-SIZE 20000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-DSN
S: 250-MTRK
S: 250 HELP
C: ehlo client.example
S* 250 HELP
C: EHLO
S: 501 5.5.4 Syntax: EHLO hostname
C: HELO client.example
S: 250 ${HOSTNAME}
C: NOOP
S: 250 2.0.0 Ok
C: VRFY bob
S~ 252 2\.5\.2 .*
C: HELP
S~ 214 .*
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
