#! tls
# STARTTLS: offered before TLS only; after the handshake the session is reset (EHLO needed,
# the open transaction is gone); ESMTPS in Received; a second STARTTLS is refused.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S: 250-${HOSTNAME} greets client.example
S: 250-PIPELINING
S: 250-SIZE 20000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-STARTTLS
S: 250-DSN
S: 250-MTRK
S: 250 HELP
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: STARTTLS now
S: 501 5.5.4 Syntax: STARTTLS
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
STARTTLS
C: MAIL FROM:<alice@sender.example>
S: 503 5.5.1 Send HELO or EHLO first
C: EHLO client.example
S: 250-${HOSTNAME} greets client.example
S: 250-PIPELINING
S: 250-SIZE 20000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250-DSN
S: 250-MTRK
S: 250 HELP
C: RCPT TO:<bob@example.org>
S: 503 5.5.1 Need MAIL before RCPT
C: STARTTLS
S: 503 5.5.1 TLS already active
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C: Subject: over TLS
C: .
S~ 250 2\.0\.0 Ok: queued as .*
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
