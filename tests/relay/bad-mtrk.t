# MTRK without a valid authenticator B, with a bad timeout, or without ENVID: 501 5.5.4.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=tooshort
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=${AUTH}:0
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=${AUTH}:1234567890
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=${AUTH}:12x
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=AAAAAAAAAAAAAAAAAAAAAAAAAAA!
S~ 501 5\.5\.4 Bad MTRK parameter.*
C: MAIL FROM:<alice@sender.example> MTRK=${AUTH}
S: 501 5.5.4 MTRK requires ENVID
# after all that the session still works
C: MAIL FROM:<alice@sender.example> ENVID=mtrk.1@sender.example MTRK=${AUTH}
S: 250 2.1.0 Sender ok
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
