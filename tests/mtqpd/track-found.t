# TRACK with the right secret: +OK+, a multipart/related entity, ".".
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: TRACK mtrk.delivered@test.example ${SECRET}
S: +OK+ Tracking information follows
S* (?i)Content-Type: multipart/related;.*
S* (?i)Content-Type: message/tracking-status.*
S* Original-Envelope-Id: mtrk\.delivered@test\.example
S* Reporting-MTA: dns; ?mx\.test\.example
S* Arrival-Date: Mon, 0?1 Jan 2024 15:15:15 \+0000
S* Final-Recipient: rfc822; ?user1@example\.net
S* Action: delivered
S* Status: 2\.0\.0
S* \.
# The session goes on after a multi-line answer.
C: COMMENT done
S: +OK
C: QUIT
S: +OK Bye
EOF
