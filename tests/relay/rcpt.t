# RCPT TO with NOTIFY and ORCPT, bad values, paths (libmsgtrk's one mailbox grammar),
# routing, recipient limit (max_recipients=3).
#! config max_recipients=3
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: RCPT TO:<bob@example.org>
S: 503 5.5.1 Need MAIL before RCPT
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.r@sender.example MTRK=${AUTH}
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;bob+2Bx@example.org
S: 250 2.1.5 Recipient ok
C: RCPT TO:<carol@example.org> NOTIFY=NEVER
S: 250 2.1.5 Recipient ok
C: RCPT TO:<dave@example.org> NOTIFY=NEVER,SUCCESS
S~ 501 5\.5\.4 NOTIFY must be .*
C: RCPT TO:<dave@example.org> NOTIFY=SOMETIMES
S~ 501 5\.5\.4 NOTIFY must be .*
C: RCPT TO:<dave@example.org> ORCPT=nosemicolon
S: 501 5.5.4 ORCPT must be addr-type;xtext
C: RCPT TO:<dave@nowhere.example>
S: 550 5.1.2 Relay access denied: no route for that domain
C: RCPT TO:<>
S~ 501 5\.1\.3 Bad recipient address syntax: .*
C: RCPT TO:<dave@exa mple.org>
S~ 501 5\.1\.3 Bad recipient address syntax: .*
C: RCPT TO:<x@error.example>
S: 250 2.1.5 Recipient ok
C: RCPT TO:<eve@example.org>
S: 452 4.5.3 Too many recipients
C: RSET
S: 250 2.0.0 Ok
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<"quoted name"@example.org>
S: 250 2.1.5 Recipient ok
C: RCPT TO:<@hop1.example,@hop2.example:dave@example.org>
S: 250 2.1.5 Recipient ok
C: RCPT TO:<a(b)@example.org>
S~ 501 5\.1\.3 Bad recipient address syntax: not <local-part@domain> .*
C: RCPT TO:<dave@-bad.example>
S~ 501 5\.1\.3 Bad recipient address syntax: .*
C: RCPT TO:<dave@example..org>
S~ 501 5\.1\.3 Bad recipient address syntax: .*
C: RCPT TO:<dave@example.org
S~ 501 5\.1\.3 Bad recipient address syntax: .*
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
