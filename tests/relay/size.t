# max_message_size = 20000: a message at the limit passes, one past it gets 552 5.3.4 after
# the data was read (the session stays in sync).
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example> SIZE=20000
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
# 19 lines of 998+2 octets (19000) plus the relay's own Received: header fit in 20000
C-raw: (b'x' * 998 + b'\r\n') * 19
C: .
S~ 250 2\.0\.0 Ok: queued as .*
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C-raw: (b'x' * 998 + b'\r\n') * 21
C: .
S: 552 5.3.4 Message size exceeds fixed limit of 20000
C: NOOP
S: 250 2.0.0 Ok
C: RCPT TO:<bob@example.org>
S: 503 5.5.1 Need MAIL before RCPT
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
