# Line limits: commands 512 octets with CRLF (MAIL 652, RCPT 1012), text lines 1000.
S: 220 ${HOSTNAME} ESMTP msgtrk-relay
C: EHLO client.example
S* 250 HELP
# NOOP line of exactly 512 octets: accepted; 513: 500 5.5.6
C-raw: b'NOOP ' + b'x' * 505 + b'\r\n'
S: 250 2.0.0 Ok
C-raw: b'NOOP ' + b'x' * 506 + b'\r\n'
S: 500 5.5.6 Line too long
# MAIL of 652 octets passes the line check (the address then is too long: 501)
C-raw: b'MAIL FROM:<' + b'a' * 636 + b'@x>\r\n'
S~ 501 5\.1\.7 .*
C-raw: b'MAIL FROM:<' + b'a' * 637 + b'@x>\r\n'
S: 500 5.5.6 Line too long
# far longer than any buffer: still one error, and sync is kept
C-raw: b'RCPT TO:<' + b'b' * 20000 + b'>\r\n'
S: 500 5.5.6 Line too long
C: MAIL FROM:<alice@sender.example>
S: 250 2.1.0 Sender ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Recipient ok
C: DATA
S: 354 End data with <CR><LF>.<CR><LF>
C-raw: b'y' * 998 + b'\r\n'
C-raw: b'y' * 999 + b'\r\n'
C: .
S: 500 5.5.6 Message text line longer than 998 octets
C: NOOP
S: 250 2.0.0 Ok
C: QUIT
S: 221 2.0.0 ${HOSTNAME} closing connection
EOF
