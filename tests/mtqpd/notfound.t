# An unknown ENVID, an expired record, a wrong secret, a malformed secret and the secret of
# another message all get the very same answer: nobody learns whether a message exists.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: TRACK mtrk.delivered@test.example ${WRONG_SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: TRACK mtrk.unknown@test.example ${SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: TRACK mtrk.expired@test.example ${SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: TRACK mtrk.delivered@test.example notbase64!!
S: -ERR/notfound No tracking information for this ENVID and secret
C: TRACK mtrk.other@test.example ${SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: TRACK mtrk.delivered@test.example ${SECRET2}
S: -ERR/notfound No tracking information for this ENVID and secret
# ENVIDs are case-sensitive.
C: TRACK MTRK.DELIVERED@TEST.EXAMPLE ${SECRET}
S: -ERR/notfound No tracking information for this ENVID and secret
C: QUIT
S: +OK Bye
EOF
