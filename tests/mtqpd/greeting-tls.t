#! tls
# With TLS configured, the greeting is multi-line and lists the STARTTLS option.
S: +OK+/MTQP ${HOSTNAME} msgtrk mtqpd ready
S: STARTTLS
S: .
C: QUIT
S: +OK Bye
EOF
