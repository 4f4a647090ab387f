# A data line starting with "." is sent with a second "." (RFC 3887 section 2.3); the
# record mtrk.dot has the per-message field ".Dot-Field: starts with a dot".
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: TRACK mtrk.dot@test.example ${SECRET}
S: +OK+ Tracking information follows
S* \.\.Dot-Field: starts with a dot
S* Action: transferred
S* Remote-MTA: dns; ?mx2\.example\.org
S* \.
C: QUIT
S: +OK Bye
EOF
