#! check events
# Event-driven sessions (docs/mtqp-server.md, "Sessions and threads"): after this
# transcript, run-mtqpd-test.py's check "events" pipelines 20,000 TRACKs from a client that
# does not read, keeps 60 idle clients, asks from another client (answered at once), reads
# every answer, and sends an overlong line in two pieces (refused whole).
S: +OK/MTQP ${HOSTNAME} msgtrk mtqpd ready
C: QUIT
S: +OK Bye
