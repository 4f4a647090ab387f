# Without TLS configured the greeting is one line: +OK/MTQP, no options (RFC 3887 sec. 3).
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: QUIT
S: +OK Bye
EOF
