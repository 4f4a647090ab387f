# Commands out of order: 503 5.5.1.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: MAIL FROM:<alice@sender.example>
S: 503 5.5.1 Send HELO or EHLO first
C: DATA
S: 503 5.5.1 Need MAIL and RCPT before DATA
C: EHLO client.example
S* 250 HELP
C: RCPT TO:<bob@example.org>
S: 503 5.5.1 Need MAIL before RCPT
C: DATA
S: 503 5.5.1 Need MAIL and RCPT before DATA
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: MAIL FROM:<alice@sender.example>
S: 503 5.5.1 Nested MAIL command
C: DATA
S: 503 5.5.1 No valid recipients
C: RSET extra
S: 501 5.5.4 Syntax: RSET
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
