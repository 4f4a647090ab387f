#! tls
#! config chaining=true
# With chaining on, the greeting lists vnd.msgtrk.chaining (after STARTTLS), also after TLS.
S: +OK+/MTQP ${HOSTNAME} msgtrk mtqpd ready
S: STARTTLS
S: vnd.msgtrk.chaining
S: .
C: STARTTLS
S: +OK Begin TLS negotiation
STARTTLS
S: +OK+/MTQP ${HOSTNAME} msgtrk mtqpd ready
S: vnd.msgtrk.chaining
S: .
# A record without transferred recipients is answered from this server alone.
C: TRACK mtrk.delivered@test.example ${SECRET}
S: +OK+ Tracking information follows
S* Action: delivered
S* \.
C: QUIT
S: +OK Bye
