#! config offer_mtrk=false
#! config offer_dsn=false
# A relay configured without MTRK and DSN neither offers nor accepts their parameters.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S: 250-${HOSTNAME} greets client.example
S: 250-PIPELINING
S: 250-SIZE 20000
S: 250-8BITMIME
S: 250-ENHANCEDSTATUSCODES
S: 250 HELP
C: MAIL FROM:<a@sender.example> ENVID=mtrk.x@sender.example
S~ 555 5\.5\.4 Unsupported parameter .*ENVID.*
C: MAIL FROM:<a@sender.example> MTRK=${AUTH}
S~ 555 5\.5\.4 Unsupported parameter .*MTRK.*
C: MAIL FROM:<a@sender.example> BODY=8BITMIME SIZE=100
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org> NOTIFY=SUCCESS
S~ 555 5\.5\.4 Unsupported parameter .*NOTIFY.*
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
