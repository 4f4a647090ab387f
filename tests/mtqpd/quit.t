# QUIT: +OK, then the server closes; commands pipelined after QUIT are not answered.
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C-batch:
C: COMMENT first
C: QUIT
C: COMMENT after quit
C-end
S: +OK
S: +OK Bye
EOF
