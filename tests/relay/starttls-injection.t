#! tls
# Commands pipelined after STARTTLS in clear text are discarded, never run inside TLS.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C-raw: b'STARTTLS\r\nMAIL FROM:<injected@sender.example>\r\n'
S: 220 2.0.0 Ready to start TLS
STARTTLS
C: EHLO client.example
S* 250 HELP
C: RCPT TO:<bob@example.org>
S: 503 5.5.1 Need MAIL before RCPT
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
