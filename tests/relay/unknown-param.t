# Unknown MAIL/RCPT parameters: 555 5.5.4; parameters after HELO (no ESMTP): 555.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example> XFOO=bar
S~ 555 5\.5\.4 Unsupported parameter .*XFOO.*
C: MAIL FROM:<alice@sender.example> SMTPUTF8
S~ 555 5\.5\.4 Unsupported parameter .*SMTPUTF8.*
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org> XBAR
S~ 555 5\.5\.4 Unsupported parameter .*XBAR.*
C: RSET
S: 250 2.0.0 Ok
C: HELO client.example
S: 250 ${HOSTNAME}
C: MAIL FROM:<alice@sender.example> ENVID=x
S: 555 5.5.4 Parameters need EHLO
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
