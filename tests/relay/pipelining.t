# PIPELINING: a whole transaction in one write; replies come in order.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C-batch:
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.p@sender.example MTRK=${AUTH}
C: RCPT TO:<bob@example.org> NOTIFY=NEVER
C: RCPT TO:<nobody@nowhere.example>
C: RCPT TO:<carol@example.org>
C: DATA
C-end
S: 250 2.1.0 Sender ok
S: 250 2.1.5 Recipient ok
S: 550 5.1.2 Relay access denied: no route for that domain
S: 250 2.1.5 Recipient ok
S: 354 End data with <CR><LF>.<CR><LF>
C-batch:
C: Subject: pipelined
C:
C: body
C: .
C: RSET
C: NOOP
C: QUIT
C-end
S~ 250 2\.0\.0 Ok: queued as .*
S: 250 2.0.0 Ok
S: 250 2.0.0 Ok
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
