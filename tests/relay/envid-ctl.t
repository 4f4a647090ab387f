# ENVID whose decoded form is not printable US-ASCII (RFC 3461 section 4.4): CR/LF, other
# controls, DEL and octets beyond ASCII are refused with 501 by libmsgtrk's ENVID parser,
# and no record can be stored under an ENVID that no longer matches Original-Envelope-Id.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example> ENVID=a+0D+0Ab MTRK=${AUTH}
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=a+0Ab
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=a+00b
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=a+09b
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=a+7Fb
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=a+C3+A9b
S~ 501 5\.5\.4 Bad ENVID.*
C: MAIL FROM:<alice@sender.example> ENVID=
S~ 501 5\.5\.4 Bad (ENVID|parameter syntax).*
# printable escapes are fine (a space, "+", "=")
C: MAIL FROM:<alice@sender.example> ENVID=a+20b+2Bc+3Dd MTRK=${AUTH}
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
# 100 characters of xtext (at the limit) and 101 (one past)
C: MAIL FROM:<alice@sender.example> ENVID=x+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B
S: 250 2.1.0 Sender ok
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<alice@sender.example> ENVID=xy+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B+2B
S~ 501 5\.5\.4 Bad ENVID.*
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
