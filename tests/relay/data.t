# DATA: 354, dot-stuffed lines, a bare-LF line, 250 with the queue id; two messages in a row.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: DATA
S: 503 5.5.1 No valid recipients
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: Subject: dots
C:
C: ..leading dot
C: ...
C-raw: b'bare LF line\n.\nstill data after a bare-LF dot\r\n'
C: .
S~ 250 2\.0\.0 Ok: queued as [0-9A-F]{22}
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: .
S~ 250 2\.0\.0 Ok: queued as [0-9A-F]{22}
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
