# MAIL FROM with ENVID, MTRK (with and without timeout), RET, SIZE, BODY; null sender.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.abc@sender.example MTRK=${AUTH} RET=HDRS
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<alice@sender.example> ret=full envid=mtrk+2Bplus@sender.example mtrk=${AUTH}:3600 SIZE=1000 BODY=8BITMIME
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
# a timeout above the cap is accepted (and capped), 9 digits at most
C: MAIL FROM:<alice@sender.example> ENVID=e1 MTRK=${AUTH}:999999999
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<>
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM: <alice@sender.example>
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<alice@sender.example> RET=NONE
S: 501 5.5.4 RET must be FULL or HDRS
C: MAIL FROM:<alice@sender.example> BODY=BINARYMIME
S: 501 5.5.4 BODY must be 7BIT or 8BITMIME
C: MAIL FROM:<alice@sender.example> SIZE=20001
S: 552 5.3.4 Message size exceeds fixed limit of 20000
C: MAIL FROM:<alice@sender.example> SIZE=abc
S: 501 5.5.4 Bad SIZE value
C: MAIL FROM:<alice@sender.example> ENVID=bad+ZZxtext
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:alice@sender.example
S~ 501 5\.1\.7 Bad sender address syntax: .*
C: MAIL FROM:<alice>
S~ 501 5\.1\.7 Bad sender address syntax: .*
C: MAIL TO:<alice@sender.example>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<alice@sender.example> ENVID=ok1 ENVID=ok2
S: 501 5.5.4 Bad parameter syntax
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
